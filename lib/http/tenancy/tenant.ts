/** Who a logged-in user is on a route with tenancy: restricted to values, unrestricted, or neither. */
import type { Groups, TenancyConfig } from "../../config/mod.ts";
import { isListed } from "../policy.ts";

/** A user's standing on a tenancy route. */
export type Tenant =
  | { readonly kind: "restricted"; readonly values: readonly string[] }
  | { readonly kind: "unrestricted" }
  | { readonly kind: "none" };

const NONE: Tenant = { kind: "none" };
const UNRESTRICTED: Tenant = { kind: "unrestricted" };

/**
 * The values `user` is restricted to: the union of every `values` entry naming the user or one of
 * the user's groups, in config order. A user both restricted and unrestricted is refused at load
 * (lib/config/route_rules.ts); should it happen anyway, the restriction wins (fail closed).
 */
export function tenantOf(t: TenancyConfig, groups: Groups, user: string | null): Tenant {
  if (user === null) return NONE;
  const values: string[] = [];
  for (const [name, list] of t.values) {
    if (isListed(user, [name], groups)) {
      for (const v of list) if (!values.includes(v)) values.push(v);
    }
  }
  if (values.length > 0) return { kind: "restricted", values };
  return isListed(user, t.unrestricted, groups) ? UNRESTRICTED : NONE;
}
