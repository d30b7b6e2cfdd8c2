import { Journal, type JournalEntry } from '../../src/delivery/journal.js'

/** Reopens the journal in `dir`, reads back everything left in it, and closes it again. */
export async function leftIn(dir: string): Promise<JournalEntry[]> {
  const j = Journal.open(dir)
  try {
    return [...j.recover()]
  } finally {
    await j.close()
  }
}
