/**
 * A world script as zone hooks: `loadScript` compiles nothing itself (compile.ts does) but checks a
 * compiled script in a sandbox (its top level runs, its exports are read, its field handlers named by
 * "Class.field" are checked against the schema) and lists it as published; `withScript(script, game)`
 * composes it with a kind's own hooks like any other part of a plugin:
 *
 * ```ts
 * const npcs = await loadScript(await compileScriptFile("scripts/npc-wander.ts"), { schema: demo });
 * kinds: { field: withScript(npcs, fieldHooks) }
 * ```
 *
 * Each zone of the kind runs the script in its own sandbox (sandbox.ts), made when the zone starts (or
 * resumes from its snapshot: the script's state is saved as JSON in the zone state, under
 * `scripts[name]`). The runtime calls the hooks in the zone's canonical order (inputs by time, sender,
 * sequence; then timers; then the tick), so the script receives its events in that order. A script that
 * goes over its budget, its memory or throws is stopped in that zone for good (logged, counted, listed
 * in `scriptStops()`, and marked in the zone's state so a replay or a resumed zone keeps it stopped); the
 * zone and the game's own hooks go on.
 *
 * Scripts run in the replica's thread (not yet on a worker pool): each call is bounded by its budget.
 */
import type { DcFile } from "@overworld/protocol";
import type { QuickJSWASMModule } from "quickjs-emscripten-core";
import type { FieldHandler, Zone, ZoneHooks } from "../plugin.ts";
import type { CompiledScript } from "./compile.ts";
import { liveSandboxes, publish, recordStop } from "./published.ts";
import {
  DEFAULT_LIMITS,
  quickJs,
  type ScriptLimits,
  ScriptSandbox,
  type ScriptShape,
  ScriptStopped,
  type StopReason,
} from "./sandbox.ts";

export interface LoadScriptOptions {
  /** The classes the script's field handlers and spawns name (the plugin's schema). */
  readonly schema: { readonly file: DcFile };
  readonly limits?: ScriptLimits;
  /** Plain data the script reads as `zone.config` (e.g. the map's size). */
  readonly config?: unknown;
}

/** A script checked and ready to run in zones. */
export interface Script {
  readonly compiled: CompiledScript;
  readonly shape: ScriptShape;
  readonly limits: ScriptLimits;
  readonly config: unknown;
  readonly dc: DcFile;
  readonly engine: QuickJSWASMModule;
}

/** One script's part of a zone's state (plain data). */
export interface ScriptData {
  readonly name: string;
  readonly hash: string;
  /** The script's state as JSON, as of the last snapshot (the live state is in the sandbox). */
  saved: string | null;
  /** Why it was stopped in this zone, if it was. */
  stopped: StopReason | null;
}

export interface ScriptsState {
  scripts: Record<string, ScriptData>;
}

/**
 * Checks a compiled script: runs its top level in a sandbox (refused if it throws, imports a module,
 * or goes over its budget), reads its hooks and checks its field handlers against the schema.
 */
export async function loadScript(compiled: CompiledScript, options: LoadScriptOptions): Promise<Script> {
  const engine = await quickJs();
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  let probe: ScriptSandbox;
  try {
    probe = new ScriptSandbox({
      engine,
      script: compiled,
      dc: options.schema.file,
      info: { parent: 0, zone: 0, kind: "", config: options.config ?? null },
      limits,
      timerPrefix: "",
    });
  } catch (error) {
    throw new Error(`script ${compiled.name} is refused: ${(error as Error).message}`);
  }
  const shape = probe.shape;
  probe.dispose();
  for (const key of shape.fields) {
    const [className, fieldName] = key.split(".");
    const dclass = className === undefined ? undefined : options.schema.file.class(className);
    if (dclass === undefined || fieldName === undefined || dclass.field(fieldName) === undefined) {
      throw new Error(
        `script ${compiled.name} is refused: its field handler ${JSON.stringify(key)} names no field of the schema (write "Class.field")`,
      );
    }
  }
  publish(compiled);
  return { compiled, shape, limits, config: options.config ?? null, dc: options.schema.file, engine };
}

/** The script alone as a zone kind. */
export function scriptHooks(script: Script): ZoneHooks<ScriptsState> {
  return withScript(script, { init: () => ({}) });
}

/** The kind's own hooks with the script beside them: the game's hook first, then the script's. */
export function withScript<S extends object>(
  script: Script,
  game: ZoneHooks<S>,
): ZoneHooks<S & ScriptsState> {
  const name = script.compiled.name;
  const timerPrefix = `script:${name}:`;
  const lives = new WeakMap<ScriptData, ScriptSandbox>();
  const reaper = new FinalizationRegistry<ScriptSandbox>((sandbox) => {
    sandbox.dispose();
    liveSandboxes.dec();
  });

  function sandboxFor(zone: Zone): ScriptSandbox {
    const sandbox = new ScriptSandbox({
      engine: script.engine,
      script: script.compiled,
      dc: script.dc,
      info: { parent: zone.parent, zone: zone.zone, kind: zone.kind, config: script.config },
      limits: script.limits,
      timerPrefix,
    });
    liveSandboxes.inc();
    return sandbox.bind(zone);
  }

  /** Keeps a zone's sandbox beside its state; it is freed when the state is collected (the zone gone). */
  function adopt(data: ScriptData, sandbox: ScriptSandbox): void {
    lives.set(data, sandbox);
    reaper.register(data, sandbox, data);
  }

  function stop(zone: Zone, data: ScriptData, error: unknown): void {
    const stopped =
      error instanceof ScriptStopped ? error : new ScriptStopped(name, "error", (error as Error).message);
    data.stopped = stopped.reason;
    const sandbox = lives.get(data);
    if (sandbox !== undefined) {
      lives.delete(data);
      reaper.unregister(data);
      sandbox.dispose();
      liveSandboxes.dec();
    }
    const where = `${zone.parent}.${zone.zone}`;
    zone.log.warn(`${stopped.message} (zone ${where} goes on without it)`, {
      script: name,
      zone: where,
      reason: stopped.reason,
    });
    recordStop({ script: name, zone: where, reason: stopped.reason, message: stopped.message });
  }

  /** Runs a call into the zone's sandbox (made from the snapshot's state when the zone resumed). */
  function call(zone: Zone, state: ScriptsState, fn: (sandbox: ScriptSandbox) => void): void {
    const data = state.scripts?.[name];
    if (data === undefined || data.stopped !== null) return;
    try {
      let sandbox = lives.get(data);
      if (sandbox === undefined) {
        sandbox = sandboxFor(zone);
        adopt(data, sandbox);
        if (data.hash !== script.compiled.hash) {
          zone.log.info(`script ${name} resumes from a state its version ${data.hash.slice(0, 12)} saved`, {
            script: name,
            running: script.compiled.hash.slice(0, 12),
          });
        }
        sandbox.restore(data.saved ?? "null");
      }
      try {
        fn(sandbox.bind(zone));
      } finally {
        sandbox.unbind();
      }
    } catch (error) {
      stop(zone, data, error);
    }
  }

  const fields: FieldHandler<S & ScriptsState>[] = script.shape.fields.map((key) => {
    const [className, fieldName] = key.split(".") as [string, string];
    return {
      dclass: script.dc.class(className)!,
      fieldName,
      handle: (zone, state, object, value, sender) =>
        call(zone, state, (sandbox) => sandbox.field(key, object, value, sender)),
    };
  });

  const has = (hook: string) => script.shape.hooks.includes(hook);
  type T = S & ScriptsState;
  return {
    ...(game as ZoneHooks<T>),
    init: (zone) => {
      const base = game.init(zone) as T;
      const data: ScriptData = { name, hash: script.compiled.hash, saved: null, stopped: null };
      const state = { ...base, scripts: { ...base.scripts, [name]: data } } as T;
      try {
        const sandbox = sandboxFor(zone);
        adopt(data, sandbox);
        try {
          sandbox.init();
        } finally {
          sandbox.unbind();
        }
      } catch (error) {
        stop(zone, data, error);
      }
      return state;
    },
    start: (zone, state) => {
      game.start?.(zone, state);
      if (has("start")) call(zone, state, (sandbox) => sandbox.start());
    },
    tick: (zone, state, dtMs) => {
      game.tick?.(zone, state, dtMs);
      if (has("tick")) call(zone, state, (sandbox) => sandbox.tick(dtMs));
    },
    enter: (zone, state, object) => {
      game.enter?.(zone, state, object);
      if (has("enter")) call(zone, state, (sandbox) => sandbox.enter(object));
    },
    leave: (zone, state, object) => {
      game.leave?.(zone, state, object);
      if (has("leave")) call(zone, state, (sandbox) => sandbox.leave(object));
    },
    event: (zone, state, event) => {
      game.event?.(zone, state, event);
      if (has("event")) call(zone, state, (sandbox) => sandbox.event(event));
    },
    timer: (zone, state, timer, data) => {
      if (!timer.startsWith(timerPrefix)) {
        game.timer?.(zone, state, timer, data);
        return;
      }
      if (has("timer")) call(zone, state, (sandbox) => sandbox.timer(timer.slice(timerPrefix.length), data));
    },
    fields: [...((game.fields ?? []) as FieldHandler<T>[]), ...fields],
    save: (state) => {
      const base = (game.save ? game.save(state) : state) as T;
      const data = state.scripts[name]!;
      const sandbox = lives.get(data);
      let saved = data.saved;
      if (sandbox !== undefined && data.stopped === null) {
        try {
          saved = sandbox.save();
        } catch (error) {
          // not a stop: a save is no journaled input (a replay would not see it fail); the snapshot fails
          throw new Error(`script ${name}: its state cannot be saved: ${(error as Error).message}`);
        }
      }
      // the state saved is this version's (a zone resumed from another version's state saves its own)
      const hash = sandbox === undefined ? data.hash : script.compiled.hash;
      return { ...base, scripts: { ...base.scripts, [name]: { ...data, hash, saved } } } as T;
    },
  };
}
