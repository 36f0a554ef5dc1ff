/** An AWS Organizations organization as OpenTrail knows it: whose trails apply to which accounts. */
export interface OrganizationConfig {
  /** `o-` and 10-32 lower-case letters or digits. */
  id: string;
  managementAccountId: string;
  /** Every member account, the management account included. */
  memberAccountIds: string[];
}
