import type { BpfInsn } from '../../src/sys/packet.js';

/**
 * A classic BPF interpreter after Documentation/networking/filter.rst and the checks of
 * `bpf_check_classic()` (net/core/filter.c), for running our filter on hand-built frames. Written
 * from the instruction set, not from src/trace/packet/bpf.ts, so it can disagree with it.
 */

/** What the kernel would know about the frame besides its bytes (the ancillary loads). */
export interface FrameMeta {
  /** skb->pkt_type (PACKET_HOST 0 … PACKET_OUTGOING 4). */
  pktType: number;
  ifindex?: number;
  /** skb->protocol, host order. */
  protocol?: number;
}

const MAXINSNS = 4096;
const AD_OFF = -0x1000;

/** @throws Error for a program the kernel's checker would refuse (what SO_ATTACH_FILTER answers EINVAL to). */
export function checkProgram(prog: readonly BpfInsn[]): void {
  if (prog.length === 0 || prog.length > MAXINSNS) throw new Error(`program length ${prog.length}`);
  prog.forEach((p, pc) => {
    for (const [name, v, max] of [['code', p.code, 0xffff], ['jt', p.jt, 255], ['jf', p.jf, 255]] as const) {
      if (!Number.isInteger(v) || v < 0 || v > max) throw new Error(`insn ${pc}: ${name} ${v}`);
    }
    const cls = p.code & 0x07;
    if (cls === 0x05) {
      const op = p.code & 0xf0;
      if (op === 0x00) {
        if (pc + 1 + (p.k >>> 0) >= prog.length) throw new Error(`insn ${pc}: ja out of range`);
      } else if (pc + 1 + p.jt >= prog.length || pc + 1 + p.jf >= prog.length) throw new Error(`insn ${pc}: jump out of range`);
    }
  });
  const last = prog[prog.length - 1];
  if (last === undefined || (last.code & 0x07) !== 0x06) throw new Error('last instruction is not a return');
}

/** Runs the program on `frame`; returns what the kernel would keep (bytes; 0 = drop). */
export function runBpf(prog: readonly BpfInsn[], frame: Uint8Array, meta: FrameMeta): number {
  checkProgram(prog);
  let A = 0;
  let X = 0;
  const M = new Array<number>(16).fill(0);
  const load = (offset: number, size: 1 | 2 | 4): number | null => {
    if (offset >= AD_OFF && offset < 0) {
      switch (offset - AD_OFF) {
        case 0:
          return meta.protocol ?? 0;
        case 4:
          return meta.pktType;
        case 8:
          return meta.ifindex ?? 1;
        default:
          return null;
      }
    }
    if (offset < 0 || offset + size > frame.length) return null;
    let v = 0;
    for (let i = 0; i < size; i++) v = v * 256 + (frame[offset + i] ?? 0);
    return v >>> 0;
  };
  for (let pc = 0; pc < prog.length; pc++) {
    const p = prog[pc] as BpfInsn;
    const k = p.k >>> 0;
    const sk = p.k | 0;
    const cls = p.code & 0x07;
    const size = ({ 0x00: 4, 0x08: 2, 0x10: 1 } as Record<number, 1 | 2 | 4>)[p.code & 0x18] ?? 4;
    const mode = p.code & 0xe0;
    switch (cls) {
      case 0x00: {
        // LD
        let v: number | null;
        if (mode === 0x00) v = k;
        else if (mode === 0x20) v = load(sk, size);
        else if (mode === 0x40) v = load((X + sk) | 0, size);
        else if (mode === 0x60) v = M[k & 15] ?? 0;
        else if (mode === 0x80) v = frame.length;
        else throw new Error(`insn ${pc}: bad ld mode`);
        if (v === null) return 0; // out-of-bounds load: the kernel drops the frame
        A = v >>> 0;
        break;
      }
      case 0x01: {
        // LDX
        if (mode === 0x00) X = k;
        else if (mode === 0x60) X = M[k & 15] ?? 0;
        else if (mode === 0x80) X = frame.length;
        else if (mode === 0xa0) {
          const b = load(sk, 1);
          if (b === null) return 0;
          X = (b & 0xf) * 4;
        } else throw new Error(`insn ${pc}: bad ldx mode`);
        break;
      }
      case 0x02:
        M[k & 15] = A;
        break;
      case 0x03:
        M[k & 15] = X;
        break;
      case 0x04: {
        const v = (p.code & 0x08) !== 0 ? X : k;
        switch (p.code & 0xf0) {
          case 0x00: A = (A + v) >>> 0; break;
          case 0x10: A = (A - v) >>> 0; break;
          case 0x20: A = Math.imul(A, v) >>> 0; break;
          case 0x30: if (v === 0) return 0; A = Math.floor(A / v) >>> 0; break;
          case 0x40: A = (A | v) >>> 0; break;
          case 0x50: A = (A & v) >>> 0; break;
          case 0x60: A = v >= 32 ? 0 : (A << v) >>> 0; break;
          case 0x70: A = v >= 32 ? 0 : A >>> v; break;
          case 0x80: A = -A >>> 0; break;
          case 0x90: if (v === 0) return 0; A = (A % v) >>> 0; break;
          case 0xa0: A = (A ^ v) >>> 0; break;
          default: throw new Error(`insn ${pc}: bad alu op`);
        }
        break;
      }
      case 0x05: {
        const op = p.code & 0xf0;
        if (op === 0x00) {
          pc += k;
          break;
        }
        const v = (p.code & 0x08) !== 0 ? X : k;
        let cond: boolean;
        if (op === 0x10) cond = A === v;
        else if (op === 0x20) cond = A > v;
        else if (op === 0x30) cond = A >= v;
        else if (op === 0x40) cond = (A & v) !== 0;
        else throw new Error(`insn ${pc}: bad jmp op`);
        pc += cond ? p.jt : p.jf;
        break;
      }
      case 0x06:
        return (p.code & 0x18) === 0x10 ? A : k;
      case 0x07:
        if ((p.code & 0xf8) === 0x00) X = A;
        else A = X;
        break;
      default:
        throw new Error(`insn ${pc}: bad class`);
    }
  }
  return 0;
}
