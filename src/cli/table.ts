/** Aligned text tables; colour only when the output is a terminal (and NO_COLOR is unset). */

export type Tone = 'ok' | 'warn' | 'bad' | 'dim' | 'head'

export interface Cell {
  text: string
  tone?: Tone
  /** Drawn in inverse video (`top` marks values that changed since the previous frame). */
  changed?: boolean
}

export type CellInput = Cell | string | number

const CODES: Record<Tone, string> = { ok: '32', warn: '33', bad: '31', dim: '2', head: '1' }

export function useColor(stream: NodeJS.WriteStream = process.stdout): boolean {
  return Boolean(stream.isTTY) && !process.env.NO_COLOR
}

export function paint(text: string, tone: Tone | undefined, color: boolean, changed = false): string {
  if (!color || (!tone && !changed)) return text
  const codes = [tone ? CODES[tone] : '', changed ? '7' : ''].filter(Boolean).join(';')
  return `\x1b[${codes}m${text}\x1b[0m`
}

export function cell(v: CellInput): Cell {
  return typeof v === 'object' ? v : { text: String(v) }
}

/**
 * Pads every column to its widest cell. `rightAlign` lists the columns of numbers. Widths are
 * measured on the plain text, so colour codes never skew the alignment.
 */
export function renderTable(rows: CellInput[][], opts: { color: boolean; rightAlign?: ReadonlySet<number>; gap?: number }): string[] {
  const cells = rows.map((r) => r.map(cell))
  const widths: number[] = []
  for (const r of cells) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.text.length)))
  const gap = ' '.repeat(opts.gap ?? 2)
  return cells.map((r) =>
    r
      .map((c, i) => {
        const pad = ' '.repeat(widths[i] - c.text.length)
        const last = i === r.length - 1
        const shown = paint(c.text, c.tone, opts.color, c.changed)
        if (opts.rightAlign?.has(i)) return pad + shown
        return last ? shown : shown + pad
      })
      .join(gap)
      .trimEnd(),
  )
}
