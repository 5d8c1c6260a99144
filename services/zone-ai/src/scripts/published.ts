/**
 * What this process runs of world scripts, for players and operators: each loaded script's name, hash
 * and source (the zone-AI ops server serves them at `GET /scripts` and `GET /scripts/:name`), and the
 * scripts stopped for going over their budget (logged, counted in `ow_zone_script_stops_total`).
 */
import { Counter, Gauge, Registry } from "prom-client";
import type { CompiledScript, ScriptLanguage } from "./compile.ts";
import type { StopReason } from "./sandbox.ts";

export interface PublishedScript {
  readonly name: string;
  readonly language: ScriptLanguage;
  /** sha256 of the source (hex). */
  readonly hash: string;
  readonly source: string;
}

export interface ScriptStop {
  readonly script: string;
  /** The zone, as "parent.zone". */
  readonly zone: string;
  readonly reason: StopReason;
  readonly message: string;
}

const published = new Map<string, PublishedScript>();
const stops: ScriptStop[] = [];
const MAX_STOPS_KEPT = 100;

/** The metrics of scripts (merged into the zone-AI replica's /metrics). */
export const scriptMetrics = new Registry();
const stopCounter = new Counter({
  name: "ow_zone_script_stops_total",
  help: "World scripts stopped in a zone: over their step budget or deadline, out of memory, or an error",
  labelNames: ["script", "reason"] as const,
  registers: [scriptMetrics],
});
export const liveSandboxes = new Gauge({
  name: "ow_zone_script_sandboxes",
  help: "Script sandboxes (QuickJS runtimes) this process runs",
  registers: [scriptMetrics],
});

/** Lists a script as run here (a script of the same name and another source replaces it). */
export function publish(script: CompiledScript): void {
  published.set(script.name, {
    name: script.name,
    language: script.language,
    hash: script.hash,
    source: script.source,
  });
}

/** The scripts this process runs, by name. */
export function publishedScripts(): PublishedScript[] {
  return [...published.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function recordStop(stop: ScriptStop): void {
  stopCounter.inc({ script: stop.script, reason: stop.reason });
  stops.push(stop);
  if (stops.length > MAX_STOPS_KEPT) stops.shift();
}

/** The latest stops (at most 100), oldest first. */
export function scriptStops(): readonly ScriptStop[] {
  return stops;
}
