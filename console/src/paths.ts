/** The router's basename: every console page lives under it. */
export const BASENAME = '/v1/awe/admin/-';
