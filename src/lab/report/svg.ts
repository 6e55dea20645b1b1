/**
 * A small SVG writer for the lab's pictures, with text measured by a fixed-width font metric: every
 * label is monospace, so its box is known exactly without a browser (`chars × size × ADVANCE`),
 * the layout can keep labels apart, and a test can check from the SVG alone that none overlap.
 */

/** The font of every label: monospace, so a label's width is its character count times the advance. */
export const FONT_FAMILY = "'DejaVu Sans Mono', Menlo, Consolas, 'Liberation Mono', monospace";
/** Advance of one character, in ems (DejaVu Sans Mono, Menlo and Consolas are all 0.6 em or less). */
export const ADVANCE = 0.6;
/** Height above the baseline that a label's box covers, in ems. */
export const ASCENT = 0.8;
/** Height below the baseline that a label's box covers, in ems. */
export const DESCENT = 0.22;

/** An axis-aligned box, px. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

export type TextAnchor = 'start' | 'middle' | 'end';

/** Width of `text` in px at font size `size` (code points, so `→` counts as one character). */
export function textWidth(text: string, size: number): number {
  return [...text].length * size * ADVANCE;
}

/** The box a label covers when its anchor point is (x, baseline y). */
export function textBox(x: number, y: number, text: string, size: number, anchor: TextAnchor = 'start'): Box {
  const w = textWidth(text, size);
  const left = anchor === 'start' ? x : anchor === 'middle' ? x - w / 2 : x - w;
  return { x: left, y: y - size * ASCENT, w, h: size * (ASCENT + DESCENT) };
}

/** Whether two boxes share any area (touching edges do not count). */
export function overlaps(a: Box, b: Box): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/** Text safe inside an SVG or HTML element or a double-quoted attribute. */
export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

function num(n: number): string {
  return String(Math.round(n * 10) / 10);
}

export interface TextOptions {
  size: number;
  anchor?: TextAnchor;
  /** CSS class (colour, weight). */
  cls?: string;
  /** A tooltip (`<title>`). */
  title?: string;
}

/** Builds one SVG document; every label written with {@link text} is recorded with its box. */
export class SvgWriter {
  readonly #parts: string[] = [];
  readonly #labels: Box[] = [];

  /** A straight line; `cls` carries stroke and marker. */
  line(x1: number, y1: number, x2: number, y2: number, cls: string): void {
    this.#parts.push(`<line x1="${num(x1)}" y1="${num(y1)}" x2="${num(x2)}" y2="${num(y2)}" class="${cls}"/>`);
  }

  /** A path (`d` in SVG path syntax). */
  path(d: string, cls: string): void {
    this.#parts.push(`<path d="${d}" class="${cls}"/>`);
  }

  rect(box: Box, cls: string, rx = 0): void {
    this.#parts.push(`<rect x="${num(box.x)}" y="${num(box.y)}" width="${num(box.w)}" height="${num(box.h)}" rx="${rx}" class="${cls}"/>`);
  }

  /** A label at anchor point (x, baseline y); returns the box it covers. */
  text(x: number, y: number, content: string, opts: TextOptions): Box {
    const anchor = opts.anchor ?? 'start';
    const box = textBox(x, y, content, opts.size, anchor);
    const title = opts.title ? `<title>${esc(opts.title)}</title>` : '';
    this.#parts.push(
      `<text x="${num(x)}" y="${num(y)}" font-size="${opts.size}"${anchor === 'start' ? '' : ` text-anchor="${anchor}"`}${opts.cls ? ` class="${opts.cls}"` : ''}>${title}${esc(content)}</text>`,
    );
    this.#labels.push(box);
    return box;
  }

  /** Raw markup (a `<defs>` block, a group). */
  raw(markup: string): void {
    this.#parts.push(markup);
  }

  /** The elements written so far, without the `<svg>` wrapper (to nest in another writer with {@link raw}). */
  get markup(): string {
    return this.#parts.join('');
  }

  /** The boxes of every label written so far. */
  get labels(): readonly Box[] {
    return this.#labels;
  }

  /** The document: `width` × `height` px, with `style` as its stylesheet. */
  toString(width: number, height: number, style: string, title: string): string {
    return (
      `<svg xmlns="http://www.w3.org/2000/svg" width="${Math.ceil(width)}" height="${Math.ceil(height)}" viewBox="0 0 ${Math.ceil(width)} ${Math.ceil(height)}" font-family="${esc(FONT_FAMILY)}">` +
      `<title>${esc(title)}</title><style>${style}</style>${this.#parts.join('')}</svg>`
    );
  }
}

/**
 * The label boxes of an SVG this module wrote, read back from its markup alone (`<text>` elements:
 * x, y, font-size, text-anchor and their text), for checks that must not trust the layout code.
 */
export function labelBoxesOf(svg: string): { text: string; box: Box }[] {
  const out: { text: string; box: Box }[] = [];
  for (const m of svg.matchAll(/<text ([^>]*)>(?:<title>[^<]*<\/title>)?([^<]*)<\/text>/g)) {
    const attrs = m[1] as string;
    const attr = (name: string): string | undefined => new RegExp(`(?:^| )${name}="([^"]*)"`).exec(attrs)?.[1];
    const content = (m[2] as string).replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e] as string);
    const anchor = (attr('text-anchor') ?? 'start') as TextAnchor;
    out.push({ text: content, box: textBox(Number(attr('x')), Number(attr('y')), content, Number(attr('font-size')), anchor) });
  }
  return out;
}
