/**
 * What the console's session endpoints answer (src/http/console-session.ts), shared with the
 * browser side (console/src/api.ts imports this type). No imports: the console's build reads it.
 */
export interface ConsoleSessionView {
  /** The session's CSRF token, to send as `x-opentrail-csrf`. */
  csrfToken: string;
  accountId: string;
  arn: string;
  type: string;
  userName: string;
  accessKeyId: string;
  /** The Region chosen at sign-in (calls may name another served Region). */
  region: string;
  /** The Regions this server serves. */
  regions: string[];
  expiresAt: string;
}
