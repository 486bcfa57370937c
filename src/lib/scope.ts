/** The tenant scope every store function of app data requires (DESIGN.md §4). */
export type AppScope = Readonly<{ tenantId: string; appId: string }>;

/** An end user, or an app server acting as one of its users through `asUserId`. */
export type Actor = Readonly<{ scope: AppScope; userId: string }>;

/** One page request, already validated: `limit` rows after/before a decoded cursor. */
export type PageArgs<C> = { after?: C; before?: C; limit: number; inverted: boolean };

/** (timestamp, id) keysets: `t` is an ISO timestamp, `id` breaks ties. */
export type TimeCursor = { t: string; id: string };
