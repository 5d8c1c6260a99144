/**
 * One script running for one zone: its own QuickJS runtime (WASM, through quickjs-emscripten) with its
 * own memory limit and stack size, and a budget for each call into it. The budget is counted in QuickJS's
 * own interrupt checks (one every few thousand operations: the same count for the same code and inputs,
 * so a replay stops a script at the same point), with a wall-clock deadline behind it as a last guard.
 * A call that runs over, runs out of memory, or throws stops the script for good (`ScriptStopped`).
 *
 * The script reaches nothing of the host: the runtime has no modules, no `std`/`os`, no timers, no I/O;
 * it gets the zone API (prelude.ts) over the host functions below, each taking and giving JSON text.
 */
import type { DClass, DcFile, FieldValue } from "@overworld/protocol";
import { DClassHandle } from "@overworld/protocol";
import {
  newQuickJSWASMModuleFromVariant,
  type QuickJSContext,
  type QuickJSHandle,
  type QuickJSRuntime,
  type QuickJSSyncVariant,
  type QuickJSWASMModule,
} from "quickjs-emscripten-core";
import type { Zone, ZoneObject } from "../plugin.ts";
import { lineage } from "../zone-runtime.ts";
import type { ScriptObject } from "./api.ts";
import type { CompiledScript } from "./compile.ts";
import { PRELUDE } from "./prelude.ts";

export interface ScriptLimits {
  /** The heap a script's runtime may use (bytes; default 8 MiB). */
  readonly memoryBytes?: number;
  /** Its stack (bytes; default 256 KiB). */
  readonly stackBytes?: number;
  /**
   * Interrupt checks one call may take (QuickJS checks every few thousand operations; default 200,
   * some 10 ms of plain loops). Deterministic: the same code over the same inputs takes the same count.
   */
  readonly steps?: number;
  /** Wall-clock time one call may take (ms; default 100): a guard behind `steps`, not deterministic. */
  readonly deadlineMs?: number;
}

/** How many times a call's budget a save may take. */
const SAVE_BUDGET = 20;

export const DEFAULT_LIMITS: Required<ScriptLimits> = {
  memoryBytes: 8 * 1024 * 1024,
  stackBytes: 256 * 1024,
  steps: 200,
  deadlineMs: 100,
};

/** Why a script was stopped: over its step budget or deadline, out of memory, or a thrown error. */
export type StopReason = "budget" | "deadline" | "memory" | "error";

export class ScriptStopped extends Error {
  constructor(
    readonly script: string,
    readonly reason: StopReason,
    detail: string,
  ) {
    super(`script ${script} stopped (${reason}): ${detail}`);
  }
}

let engine: Promise<QuickJSWASMModule> | undefined;

/** The QuickJS WASM module (loaded once per process; every sandbox is a runtime inside it). */
export function quickJs(): Promise<QuickJSWASMModule> {
  // the ESM build's default export is the variant (its types are the CommonJS build's)
  engine ??= import("@jitl/quickjs-wasmfile-release-sync").then((module) =>
    newQuickJSWASMModuleFromVariant(module.default as unknown as QuickJSSyncVariant),
  );
  return engine;
}

/** What a sandbox knows of its zone when it is made (the zone API's constants). */
export interface SandboxInfo {
  readonly parent: number;
  readonly zone: number;
  readonly kind: string;
  readonly config: unknown;
}

/** The hooks a script exports, as its sandbox found them. */
export interface ScriptShape {
  readonly hooks: readonly string[];
  /** Its field handlers' keys: "Class.field". */
  readonly fields: readonly string[];
}

type Dispatch =
  | "init"
  | "restore"
  | "save"
  | "start"
  | "tick"
  | "enter"
  | "leave"
  | "event"
  | "timer"
  | "field";
const DISPATCH: readonly Dispatch[] = [
  "init",
  "restore",
  "save",
  "start",
  "tick",
  "enter",
  "leave",
  "event",
  "timer",
  "field",
];

export interface SandboxOptions {
  readonly engine: QuickJSWASMModule;
  readonly script: CompiledScript;
  readonly dc: DcFile;
  readonly info: SandboxInfo;
  readonly limits?: ScriptLimits;
  /** Prefix of the timer names the script sets (its own timers, told apart from the game's). */
  readonly timerPrefix: string;
}

export class ScriptSandbox {
  readonly shape: ScriptShape;
  private readonly runtime: QuickJSRuntime;
  private readonly vm: QuickJSContext;
  private readonly limits: Required<ScriptLimits>;
  private readonly calls = new Map<Dispatch, QuickJSHandle>();
  private readonly handles: QuickJSHandle[] = [];
  private zone: Zone | undefined;
  private polls = 0;
  private steps = 0;
  private deadline = 0;
  private interrupted: StopReason | undefined;
  private disposed = false;

  constructor(private readonly options: SandboxOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.runtime = options.engine.newRuntime();
    this.runtime.setMemoryLimit(this.limits.memoryBytes);
    this.runtime.setMaxStackSize(this.limits.stackBytes);
    this.runtime.setInterruptHandler(() => {
      this.polls += 1;
      if (this.polls > this.steps) this.interrupted = "budget";
      else if (this.polls % 16 === 0 && performance.now() > this.deadline) this.interrupted = "deadline";
      return this.interrupted !== undefined;
    });
    this.vm = this.runtime.newContext();
    try {
      this.installHost();
      this.shape = this.load();
    } catch (error) {
      this.dispose();
      throw error;
    }
  }

  /**
   * The zone the next calls act on (the runtime hands hooks the zone of the moment); `unbind` after, so
   * that the sandbox holds nothing of the zone between calls (it is freed when the zone's state goes).
   */
  bind(zone: Zone): this {
    this.zone = zone;
    return this;
  }

  unbind(): void {
    this.zone = undefined;
  }

  init(): void {
    this.run("init", []);
  }

  restore(saved: string): void {
    this.run("restore", [saved]);
  }

  /** The script's state as JSON text. */
  save(): string {
    return this.run("save", [], true, SAVE_BUDGET) as string;
  }

  start(): void {
    this.run("start", []);
  }

  tick(dtMs: number): void {
    this.run("tick", [dtMs]);
  }

  enter(object: ZoneObject): void {
    this.run("enter", [JSON.stringify(describe(object))]);
  }

  leave(object: ZoneObject): void {
    this.run("leave", [JSON.stringify(describe(object))]);
  }

  event(event: unknown): void {
    this.run("event", [toJson(event)]);
  }

  timer(name: string, data: unknown): void {
    this.run("timer", [name, toJson(data)]);
  }

  field(key: string, object: ZoneObject, value: FieldValue, sender: number): void {
    this.run("field", [key, JSON.stringify(describe(object)), toJson(value), sender]);
  }

  /** Frees the runtime (its memory goes back to the WASM module). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const handle of this.handles) if (handle.alive) handle.dispose();
    this.vm.dispose();
    this.runtime.dispose();
  }

  // ---- inside --------------------------------------------------------------------------------------

  private load(): ScriptShape {
    const { script } = this.options;
    const prelude = this.evaluate(PRELUDE, "prelude.js");
    this.handles.push(prelude);
    for (const name of DISPATCH) {
      const fn = this.vm.getProp(prelude, name);
      this.handles.push(fn);
      this.calls.set(name, fn);
    }
    const factory = this.evaluate(
      `(function (module, exports, require) {\n${script.code}\n})`,
      `${script.name}.js`,
    );
    const define = this.vm.getProp(prelude, "define");
    try {
      const shape = this.invoke(define, [factory], true);
      return JSON.parse(shape as string) as ScriptShape;
    } finally {
      define.dispose();
      factory.dispose();
    }
  }

  private evaluate(code: string, file: string): QuickJSHandle {
    this.arm();
    const result = this.vm.evalCode(code, file, { type: "global", strict: true });
    if (result.error) throw this.stopped(result.error);
    return result.value;
  }

  private run(name: Dispatch, args: readonly (string | number)[], dump = false, budget = 1): unknown {
    if (this.disposed) throw new ScriptStopped(this.options.script.name, "error", "its sandbox is gone");
    const handles = args.map((arg) =>
      typeof arg === "number" ? this.vm.newNumber(arg) : this.vm.newString(arg),
    );
    try {
      return this.invoke(this.calls.get(name)!, handles, dump, budget);
    } finally {
      for (const handle of handles) handle.dispose();
    }
  }

  private invoke(fn: QuickJSHandle, args: readonly QuickJSHandle[], dump: boolean, budget = 1): unknown {
    this.arm(budget);
    const result = this.vm.callFunction(fn, this.vm.undefined, ...args);
    if (result.error) throw this.stopped(result.error);
    const value = dump ? this.vm.dump(result.value) : undefined;
    result.value.dispose();
    if (this.runtime.hasPendingJob()) {
      const jobs = this.runtime.executePendingJobs();
      if (jobs.error) throw this.stopped(jobs.error);
    }
    return value;
  }

  /** Starts a call's budget: `budget` times the limits (a save gets more: it is no journaled input). */
  private arm(budget = 1): void {
    this.polls = 0;
    this.steps = this.limits.steps * budget;
    this.interrupted = undefined;
    this.deadline = performance.now() + this.limits.deadlineMs * budget;
  }

  private stopped(error: QuickJSHandle): ScriptStopped {
    let detail: string;
    try {
      const dumped = this.vm.dump(error) as { name?: string; message?: string; stack?: string } | string;
      detail =
        typeof dumped === "object" && dumped !== null
          ? `${dumped.name ?? "Error"}: ${dumped.message ?? ""}${dumped.stack ? `\n${dumped.stack}` : ""}`
          : String(dumped);
    } catch {
      detail = "(its error could not be read)";
    } finally {
      error.dispose();
    }
    const reason: StopReason = this.interrupted ?? (/out of memory/.test(detail) ? "memory" : "error");
    const what =
      reason === "budget"
        ? `a call took more than its ${this.limits.steps} steps`
        : reason === "deadline"
          ? `a call ran past its ${this.limits.deadlineMs} ms deadline`
          : reason === "memory"
            ? `it needed more than its ${this.limits.memoryBytes} bytes of memory`
            : "it threw";
    return new ScriptStopped(this.options.script.name, reason, `${what}: ${detail.trim()}`);
  }

  // ---- the zone API's host side --------------------------------------------------------------------

  private installHost(): void {
    const vm = this.vm;
    const host = vm.newObject();
    const zone = (): Zone => {
      if (this.zone === undefined) throw new Error("the script was called outside a zone");
      return this.zone;
    };
    const object = (doId: number, action: string): ZoneObject => {
      const found = zone().find(doId);
      if (found === undefined)
        throw new Error(`cannot ${action} object ${doId}: this zone neither runs it nor sees it`);
      return found;
    };
    const fn = (name: string, body: (...args: QuickJSHandle[]) => QuickJSHandle | undefined) => {
      const handle = vm.newFunction(name, body);
      vm.setProp(host, name, handle);
      handle.dispose();
    };
    const num = (handle: QuickJSHandle) => vm.getNumber(handle);
    const str = (handle: QuickJSHandle) => vm.getString(handle);
    fn("now", () => vm.newNumber(zone().now));
    fn("random", () => vm.newNumber(zone().random()));
    fn("objects", (dclass, fields) => {
      const name = str(dclass);
      const wanted = JSON.parse(str(fields)) as string[];
      const out: ScriptObject[] = [];
      for (const each of zone().objects.values()) {
        if (name !== "" && !isA(each.dclass, name)) continue;
        if (wanted.length === 0) out.push(describe(each));
        else {
          const values: Record<string, unknown> = {};
          for (const field of wanted) values[field] = each.get(field as never);
          out.push({ ...describe(each), fields: values });
        }
      }
      out.sort((a, b) => a.doId - b.doId);
      return vm.newString(toJson(out));
    });
    fn("get", (doId, field) => {
      const found = zone().find(num(doId));
      if (found === undefined) return vm.undefined;
      const value = found.get(str(field) as never) as unknown;
      return value === undefined ? vm.undefined : vm.newString(toJson(value));
    });
    fn("sets", (writes) => {
      for (const [doId, field, value] of JSON.parse(str(writes)) as [number, string, unknown][]) {
        zone().set(object(doId, "set a field of"), field as never, value as never);
      }
      return undefined;
    });
    fn("spawn", (dclass, fields, where) => {
      const handle = this.handleOf(str(dclass));
      const at = num(where);
      const doId = zone().spawn(handle, JSON.parse(str(fields)) as never, at >= 0 ? { zone: at } : {});
      return vm.newNumber(doId);
    });
    fn("move", (doId, to) => {
      zone().move(object(num(doId), "move"), num(to));
      return undefined;
    });
    fn("del", (doId) => {
      zone().delete(object(num(doId), "delete"));
      return undefined;
    });
    fn("event", (to, name, data, target) => {
      zone().sendEvent(num(to), str(name), JSON.parse(str(data)), num(target));
      return undefined;
    });
    fn("after", (ms, name, data) => {
      zone().after(Math.max(0, num(ms)), `${this.options.timerPrefix}${str(name)}`, JSON.parse(str(data)));
      return undefined;
    });
    fn("log", (message, details) => {
      zone().log.info(
        `script ${this.options.script.name}: ${str(message)}`,
        JSON.parse(str(details)) as object,
      );
      return undefined;
    });
    vm.setProp(vm.global, "__host", host);
    host.dispose();
    const info = vm.newString(JSON.stringify(this.options.info));
    vm.setProp(vm.global, "__info", info);
    info.dispose();
  }

  private readonly classHandles = new Map<string, DClassHandle>();

  private handleOf(name: string): DClassHandle {
    let handle = this.classHandles.get(name);
    if (handle === undefined) {
      const dclass = this.options.dc.class(name);
      if (dclass === undefined) throw new Error(`there is no class ${name} to spawn`);
      handle = new DClassHandle(dclass);
      this.classHandles.set(name, handle);
    }
    return handle;
  }
}

const ancestry = new WeakMap<DClass, Set<string>>();

/** True when the class is `name` or inherits from it. */
function isA(dclass: DClass, name: string): boolean {
  let names = ancestry.get(dclass);
  if (names === undefined) {
    names = new Set(lineage(dclass).map((each) => each.name));
    ancestry.set(dclass, names);
  }
  return names.has(name);
}

export function describe(object: ZoneObject): ScriptObject {
  return {
    doId: object.doId,
    dclass: object.dclass.name,
    parent: object.parent,
    zone: object.zone,
    owner: object.owner,
  };
}

/** JSON text of a value from the zone: 64-bit integers as numbers (or strings past 2^53), bytes as arrays. */
export function toJson(value: unknown): string {
  return JSON.stringify(value === undefined ? null : value, (_key, each: unknown) => {
    if (typeof each === "bigint") return Number.isSafeInteger(Number(each)) ? Number(each) : each.toString();
    if (each instanceof Uint8Array) return [...each];
    return each;
  });
}
