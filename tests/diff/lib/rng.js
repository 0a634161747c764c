'use strict';
// Small deterministic PRNG (mulberry32) plus helpers. A case is reproduced
// exactly from its 32-bit seed; nothing in the generator may use Math.random.

function mix32(h) {
  h >>>= 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

// Seed of case k of a run with seed runSeed.
function caseSeed(runSeed, k) {
  return mix32(mix32(runSeed ^ 0x5bd1e995) ^ Math.imul(k + 1, 0x9e3779b1));
}

class Rng {
  constructor(seed) {
    this.s = seed >>> 0;
  }
  u32() {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  f() {
    return this.u32() / 4294967296;
  }
  int(lo, hi) {
    return lo + Math.floor(this.f() * (hi - lo + 1));
  }
  chance(p) {
    return this.f() < p;
  }
  pick(a) {
    return a[Math.floor(this.f() * a.length)];
  }
  // pairs: [[weight, value], ...]
  wpick(pairs) {
    let tot = 0;
    for (const p of pairs) tot += p[0];
    let x = this.f() * tot;
    for (const p of pairs) {
      x -= p[0];
      if (x < 0) return p[1];
    }
    return pairs[pairs.length - 1][1];
  }
  shuffle(a) {
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.f() * (i + 1));
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }
  sample(a, k) {
    return this.shuffle(a.slice()).slice(0, k);
  }
}

module.exports = { Rng, caseSeed, mix32 };
