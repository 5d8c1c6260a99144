/**
 * Whom to ask first: peers are grouped by proximity, as the cluster knows it (the zone grid cell a player
 * stands in) or as measured (round-trip time): the same cell, then a neighbouring cell, then the rest, and
 * within a group the shorter round trip first. Near peers are likelier on the same network and cheaper to
 * reach; far ones are asked when near ones have no capacity or not the chunk.
 */
export interface Proximity {
  /** The zone grid cell (x, y) the peer is in, when the cluster says. */
  readonly cell?: readonly [number, number];
  /** The measured round trip to the peer, ms. */
  readonly rttMs?: number;
}

/** The proximity group of `other` seen from `me`: 0 the same cell, 1 a neighbouring cell, 2 the rest. */
export function proximityGroup(me: Proximity, other: Proximity): 0 | 1 | 2 {
  if (me.cell === undefined || other.cell === undefined) return 2;
  const distance = Math.max(Math.abs(me.cell[0] - other.cell[0]), Math.abs(me.cell[1] - other.cell[1]));
  return distance === 0 ? 0 : distance === 1 ? 1 : 2;
}

/** A sort key: lower is closer (the group first, then the round trip; unknown round trips last in a group). */
export function proximityRank(me: Proximity, other: Proximity): number {
  return proximityGroup(me, other) * 1e7 + Math.min(other.rttMs ?? 9_999_999, 9_999_999);
}
