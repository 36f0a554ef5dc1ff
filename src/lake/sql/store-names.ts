/**
 * CloudTrail Lake names an event data store in FROM by its id (`FROM 0f2d...-...`) or its ARN,
 * unquoted; neither is an SQL identifier (hyphens, colons, a slash). Before the statement goes to
 * DuckDB's parser, every such name outside string literals, quoted identifiers and comments is
 * wrapped in double quotes, so it parses as one table name. A name already quoted is left as it is.
 */

/** An event data store id: five groups of letters and digits joined by hyphens (a UUID, or AWS's documentation's `EXAMPLE-f852-...`). */
const STORE_ID = String.raw`[A-Za-z0-9]{1,64}(?:-[A-Za-z0-9]{1,64}){4}`;
/** Its ARN. */
const STORE_ARN = String.raw`arn:[a-z0-9-]{1,32}:cloudtrail:[a-z0-9-]{1,32}:\d{12}:eventdatastore/${STORE_ID}`;
const BARE_NAME = new RegExp(`^(?:${STORE_ARN}|${STORE_ID})(?![A-Za-z0-9_$])`);

const WORD = /[A-Za-z0-9_$]+/y;

export const STORE_NAME = new RegExp(`^(?:${STORE_ARN}|${STORE_ID})$`);

/** The statement with every bare store id or ARN quoted as an identifier. */
export function quoteStoreNames(sql: string): string {
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    const two = sql.slice(i, i + 2);
    let end: number;
    if (c === "'" || c === '"') {
      // A literal or quoted identifier; a doubled quote is part of it.
      end = i + 1;
      for (;;) {
        const q = sql.indexOf(c, end);
        if (q < 0) {
          end = sql.length;
          break;
        }
        if (sql[q + 1] === c) end = q + 2;
        else {
          end = q + 1;
          break;
        }
      }
    } else if (two === '--') {
      const nl = sql.indexOf('\n', i);
      end = nl < 0 ? sql.length : nl;
    } else if (two === '/*') {
      const close = sql.indexOf('*/', i + 2);
      end = close < 0 ? sql.length : close + 2;
    } else if (/[A-Za-z0-9]/.test(c) && (i === 0 || !/[A-Za-z0-9_$.]/.test(sql[i - 1]!))) {
      const m = BARE_NAME.exec(sql.slice(i, i + 400));
      if (m) {
        out += `"${m[0]}"`;
        i += m[0].length;
        continue;
      }
      WORD.lastIndex = i;
      WORD.test(sql);
      end = WORD.lastIndex;
    } else end = i + 1;
    out += sql.slice(i, end);
    i = end;
  }
  return out;
}
