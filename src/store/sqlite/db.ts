import type Database from 'better-sqlite3';

import type { Sealer } from '../types.js';

/** A database handle with a prepared-statement cache and the sealer: what the table modules work on. */
export class Db {
  private readonly statements = new Map<string, Database.Statement>();

  constructor(
    readonly raw: Database.Database,
    readonly sealer: Sealer,
  ) {}

  /** The prepared statement for `sql` (prepared once, reused). */
  q(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.raw.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  close(): void {
    this.statements.clear();
    if (this.raw.open) this.raw.close();
  }
}
