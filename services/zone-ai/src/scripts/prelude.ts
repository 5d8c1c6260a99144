/**
 * The JavaScript a script's sandbox runs before the script: the zone API (`ScriptZone`, api.ts) over the
 * host functions the sandbox installs as `__host`, the deterministic clock and random numbers in place of
 * `Date` and `Math.random`, the fixed-point helpers, and the dispatcher the host calls the hooks through.
 * It leaves nothing of the host on the global object: `__host` is taken into a closure and deleted.
 */
export const PRELUDE = `"use strict";
(() => {
  const host = globalThis.__host;
  const info = JSON.parse(globalThis.__info);
  delete globalThis.__host;
  delete globalThis.__info;
  const parse = (text) => (text === undefined ? undefined : JSON.parse(text));
  const json = (value) => JSON.stringify(value === undefined ? null : value);
  const ONE = 65536;
  const isqrt = (n) => Math.floor(Math.sqrt(n));
  const fx = Object.freeze({
    ONE,
    from: (value) => Math.round(value * ONE),
    toNumber: (value) => value / ONE,
    mul: (a, b) => Math.trunc((a * b) / ONE),
    div: (a, b) => Math.trunc((a * ONE) / b),
    hypot: (dx, dy) => isqrt(dx * dx + dy * dy),
    toward: (x, y, tx, ty, step) => {
      const dx = tx - x;
      const dy = ty - y;
      const d = isqrt(dx * dx + dy * dy);
      if (d <= step) return [tx, ty];
      return [x + Math.trunc((dx * step) / d), y + Math.trunc((dy * step) / d)];
    },
    random: (lo, hi) => lo + Math.floor(host.random() * (hi - lo)),
  });
  // field writes are sent to the host together, before any other call that may see them or order after them
  let writes = [];
  const flush = () => {
    if (writes.length === 0) return;
    const sent = writes;
    writes = [];
    host.sets(JSON.stringify(sent));
  };
  const zone = Object.freeze({
    parent: info.parent,
    zone: info.zone,
    kind: info.kind,
    config: Object.freeze(info.config),
    get now() { return host.now(); },
    random: () => host.random(),
    objects: (dclass, fields) => {
      flush();
      return JSON.parse(host.objects(dclass === undefined || dclass === null ? "" : String(dclass), json(fields || [])));
    },
    get: (doId, field) => { flush(); return parse(host.get(doId, String(field))); },
    set: (doId, field, value) => { writes.push([doId, String(field), value === undefined ? null : value]); },
    spawn: (dclass, fields, where) => { flush(); return host.spawn(String(dclass), json(fields || {}), where === undefined ? -1 : where); },
    move: (doId, to) => { flush(); host.move(doId, to); },
    delete: (doId) => { flush(); host.del(doId); },
    sendEvent: (to, name, data, target) => { flush(); host.event(to, String(name), json(data), target || 0); },
    after: (ms, name, data) => { flush(); host.after(ms, String(name), json(data)); },
    log: (message, details) => { flush(); host.log(String(message), json(details || {})); },
    fx,
  });
  // the zone's clock and its seeded generator only: the same inputs give the same outputs anywhere
  Math.random = () => host.random();
  const RealDate = Date;
  function ZoneDate(...args) {
    if (!new.target) return new RealDate(host.now()).toISOString();
    return args.length === 0 ? new RealDate(host.now()) : new RealDate(...args);
  }
  ZoneDate.now = () => host.now();
  ZoneDate.UTC = RealDate.UTC;
  ZoneDate.parse = RealDate.parse;
  ZoneDate.prototype = RealDate.prototype;
  globalThis.Date = ZoneDate;
  delete globalThis.WeakRef;
  delete globalThis.FinalizationRegistry;
  const require = (name) => {
    throw new Error("a script imports nothing (it asked for " + JSON.stringify(name) + "): the zone API it is given is all it reaches");
  };
  let hooks = {};
  let state = null;
  const fields = () => hooks.fields || {};
  /** A hook's call: its writes flushed when it returns. */
  const done = (result) => { flush(); return result; };
  return {
    define: (factory) => {
      const module = { exports: {} };
      factory(module, module.exports, require);
      hooks = module.exports.default && typeof module.exports.default === "object" ? module.exports.default : module.exports;
      return JSON.stringify({
        hooks: Object.keys(hooks).filter((name) => typeof hooks[name] === "function"),
        fields: Object.keys(fields()).filter((key) => typeof fields()[key] === "function"),
      });
    },
    init: () => {
      state = typeof hooks.init === "function" ? hooks.init(zone) : {};
      if (state === undefined) state = null;
      flush();
    },
    restore: (text) => { state = JSON.parse(text); },
    save: () => JSON.stringify(state === undefined ? null : state),
    start: () => done(hooks.start && hooks.start(zone, state)),
    tick: (dt) => done(hooks.tick && hooks.tick(zone, state, dt)),
    enter: (object) => done(hooks.enter && hooks.enter(zone, state, JSON.parse(object))),
    leave: (object) => done(hooks.leave && hooks.leave(zone, state, JSON.parse(object))),
    event: (event) => done(hooks.event && hooks.event(zone, state, JSON.parse(event))),
    timer: (name, data) => done(hooks.timer && hooks.timer(zone, state, name, JSON.parse(data))),
    field: (key, object, value, sender) => done(fields()[key](zone, state, JSON.parse(object), JSON.parse(value), sender)),
  };
})()`;
