export default {
  async fetch(_request, env) {
    const visits = Number((await env.VISITS.get("visits")) ?? 0) + 1;
    await env.VISITS.put("visits", String(visits));
    return new Response(`${env.GREETING} from v1 (visit ${visits})\n`);
  },
};
