import { applyD1Migrations, d1BindingExecutor } from "../../../components/d1-migrations";
import { firstBinding } from "../bindings";
import { type CronSchedule, cronMatches, parseCron } from "../cron";
import { expireR2Objects } from "../r2-lifecycle";
import { need, type TargetService } from "./context";

/** Each D1 database's migrations, applied through the first Worker that binds it. */
export const d1Migrations: TargetService = {
  name: "D1 migrations",
  start: async (ctx) => {
    const plan = need(ctx, "plan");
    const mf = need(ctx, "mf");
    for (const d1 of plan.d1) {
      const found = firstBinding(plan.workers, "d1Databases", d1.databaseId);
      if (!found) {
        ctx.log(
          `  D1 database ${d1.databaseId} is bound by no Worker: its migrations wait until one binds it`,
        );
        continue;
      }
      const db = await mf.getD1Database(found.binding, found.worker);
      const result = await applyD1Migrations(d1BindingExecutor(db), d1.migrations);
      ctx.log(
        `  D1 ${found.binding} (${found.worker}): ${result.applied.length === 0 ? "up to date" : `applied ${result.applied.join(", ")}`}`,
      );
    }
    return {};
  },
};

/** The scheduled handlers, fired at the start of every minute whose cron they match (`fireCrons`). */
export const cronLoop: TargetService = {
  name: "cron loop",
  start: async (ctx) => {
    const mf = need(ctx, "mf");
    const schedules: { scriptName: string; schedule: CronSchedule }[] = need(ctx, "plan").crons.map((c) => ({
      scriptName: c.scriptName,
      schedule: parseCron(c.cron),
    }));
    const fireCrons = async (date: Date) => {
      const fired: string[] = [];
      for (const { scriptName, schedule } of schedules) {
        if (!cronMatches(schedule, date)) continue;
        const worker = await mf.getWorker(scriptName);
        await worker.scheduled({ cron: schedule.expression, scheduledTime: date });
        fired.push(`${scriptName} ${schedule.expression}`);
      }
      return fired;
    };
    ctx.fireCrons = fireCrons;
    if (schedules.length === 0) return {};
    let timer: NodeJS.Timeout | undefined;
    const tick = () => {
      fireCrons(new Date()).then(
        (fired) => {
          for (const f of fired) ctx.log(`cron fired: ${f}`);
        },
        (err) => ctx.log(`cron failed: ${(err as Error).message}`),
      );
      timer = setTimeout(tick, 60_000 - (Date.now() % 60_000));
    };
    timer = setTimeout(tick, 60_000 - (Date.now() % 60_000));
    return { stop: () => clearTimeout(timer) };
  },
};

/**
 * The graph's R2 lifecycle expiry rules, swept a minute after the start (so that listing a large bucket
 * does not slow the start down) and then every hour (`expireR2Objects`).
 */
export const r2Sweeps: TargetService = {
  name: "R2 lifecycle sweeps",
  start: async (ctx) => {
    const plan = need(ctx, "plan");
    const mf = need(ctx, "mf");
    const expireR2 = (now: Date) =>
      expireR2Objects(plan, (binding, worker) => mf.getR2Bucket(binding, worker), now);
    ctx.expireR2Objects = expireR2;
    if (!plan.r2Lifecycles.some((l) => l.rules.length > 0)) return {};
    const sweepNow = () =>
      expireR2(new Date()).then(
        (results) => {
          for (const r of results)
            if (r.deleted.length > 0)
              ctx.log(`R2 lifecycle: ${r.bucketName}: deleted ${r.deleted.length} expired object(s)`);
        },
        (err) => ctx.log(`R2 lifecycle sweep failed: ${(err as Error).message}`),
      );
    let sweeping: Promise<void> | undefined;
    let hourly: NodeJS.Timeout | undefined;
    const first = setTimeout(() => {
      sweeping = sweepNow();
      hourly = setInterval(() => {
        sweeping = sweepNow();
      }, 3_600_000);
    }, 60_000);
    // A sweep in flight ends before workerd goes.
    return {
      stop: async () => {
        clearTimeout(first);
        clearInterval(hourly);
        await sweeping;
      },
    };
  },
};
