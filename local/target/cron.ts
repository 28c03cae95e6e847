/**
 * Five-field cron expressions as Cloudflare's cron triggers accept them (minute hour day-of-month month
 * day-of-week, UTC), for the local target to fire `scheduled` handlers on their schedule.
 */

const FIELDS = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  {
    name: "month",
    min: 1,
    max: 12,
    names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
  },
  { name: "day of week", min: 0, max: 7, names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] },
] as const;

export interface CronSchedule {
  expression: string;
  fields: Set<number>[];
  /** Whether day of month / day of week were restricted (cron ORs them when both are). */
  domRestricted: boolean;
  dowRestricted: boolean;
}

function value(text: string, field: (typeof FIELDS)[number], expression: string): number {
  const names = "names" in field ? (field.names as readonly string[]) : [];
  const byName = names.indexOf(text.toUpperCase());
  const n = byName >= 0 ? byName + (field.name === "month" ? 1 : 0) : Number(text);
  if (!Number.isInteger(n) || n < field.min || n > field.max) {
    throw new Error(
      `cron "${expression}": ${field.name} "${text}" must be between ${field.min} and ${field.max}`,
    );
  }
  return n;
}

/** Parses a cron expression; throws naming the field that is wrong. */
export function parseCron(expression: string): CronSchedule {
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 5) throw new Error(`cron "${expression}": must have 5 fields (got ${parts.length})`);
  const fields = parts.map((part, i) => {
    const field = FIELDS[i]!;
    const set = new Set<number>();
    for (const item of part.split(",")) {
      const [range, stepText] = item.split("/");
      const step = stepText === undefined ? 1 : Number(stepText);
      if (!Number.isInteger(step) || step < 1)
        throw new Error(`cron "${expression}": bad step "${stepText}"`);
      let lo: number;
      let hi: number;
      if (range === "*") {
        lo = field.min;
        hi = field.max;
      } else if (range?.includes("-")) {
        const [a, b] = range.split("-");
        lo = value(a ?? "", field, expression);
        hi = value(b ?? "", field, expression);
        if (lo > hi) throw new Error(`cron "${expression}": ${field.name} range "${range}" is reversed`);
      } else {
        lo = value(range ?? "", field, expression);
        hi = stepText === undefined ? lo : field.max;
      }
      for (let n = lo; n <= hi; n += step) set.add(field.name === "day of week" && n === 7 ? 0 : n);
    }
    return set;
  });
  return { expression, fields, domRestricted: parts[2] !== "*", dowRestricted: parts[4] !== "*" };
}

/** Whether the schedule fires in the UTC minute that contains `date`. */
export function cronMatches(schedule: CronSchedule, date: Date): boolean {
  const [minute, hour, dom, month, dow] = schedule.fields as [
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
  ];
  if (
    !minute.has(date.getUTCMinutes()) ||
    !hour.has(date.getUTCHours()) ||
    !month.has(date.getUTCMonth() + 1)
  ) {
    return false;
  }
  const domOk = dom.has(date.getUTCDate());
  const dowOk = dow.has(date.getUTCDay());
  if (schedule.domRestricted && schedule.dowRestricted) return domOk || dowOk;
  return domOk && dowOk;
}
