/**
 * Cron expressions as Cloudflare's cron triggers accept them, parsed once for both the `Worker` component
 * (which refuses an invalid one at preview) and the local target (which fires `scheduled` handlers on the
 * parsed schedule).
 *
 * The rules follow https://developers.cloudflare.com/workers/configuration/cron-triggers/#supported-cron-expressions
 * ("five fields, along with most Quartz scheduler-like cron syntax extensions"):
 *
 * | field        | values                                  | characters  |
 * | ------------ | --------------------------------------- | ----------- |
 * | minute       | 0-59                                    | * , - /     |
 * | hour         | 0-23                                    | * , - /     |
 * | day of month | 1-31                                    | * , - / L W |
 * | month        | 1-12 or JAN-DEC (case-insensitive)      | * , - /     |
 * | day of week  | 1-7 or SUN-SAT (case-insensitive)       | * , - / L # |
 *
 * Day of week counts from Sunday: the page's examples are `0 17 * * sun` or `0 17 * * 1` for Sundays,
 * `10 7 * * mon-fri` or `10 7 * * 2-6` for weekdays and `0 18 * * 6L` or `0 18 * * friL` for the last Friday
 * of the month; so 1 is Sunday, 7 is Saturday and 0 is not a day.
 *
 * Besides `*`, values, ranges `a-b`, lists and steps (`*\/n`, `a-b/n`, and `a/n` from a to the field's
 * end), the day fields take Quartz's extensions:
 * - day of month: `L` the last day of the month, `LW` its last weekday (Monday to Friday), `15W` the
 *   weekday nearest the 15th without leaving the month (Friday the 14th when the 15th is a Saturday,
 *   Monday the 16th when it is a Sunday; `1W` on a Saturday is Monday the 3rd);
 * - day of week: `6L` / `FRIL` the month's last Friday, `6#3` / `FRI#3` its third Friday (1 to 5), and
 *   `L` alone the last day of the week, Saturday (as in Quartz).
 * They may be listed with other items of their field (`1,L`). When both day fields are restricted (not
 * `*`), a day matches either, as in cron. Times are UTC, as Cloudflare's.
 */

type FieldName = "minute" | "hour" | "day of month" | "month" | "day of week";

interface FieldSpec {
  name: FieldName;
  min: number;
  max: number;
  /** Names for min, min + 1, … (case-insensitive). */
  names?: readonly string[];
}

const MINUTE: FieldSpec = { name: "minute", min: 0, max: 59 };
const HOUR: FieldSpec = { name: "hour", min: 0, max: 23 };
const DAY_OF_MONTH: FieldSpec = { name: "day of month", min: 1, max: 31 };
const MONTH: FieldSpec = {
  name: "month",
  min: 1,
  max: 12,
  names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
};
const DAY_OF_WEEK: FieldSpec = {
  name: "day of week",
  min: 1,
  max: 7,
  names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
};

/** Day of month: plain days, plus Quartz's `L`, `LW` and `nW`. */
export interface DayOfMonthField {
  days: ReadonlySet<number>;
  /** `L`: the last day of the month. */
  last: boolean;
  /** `LW`: the last weekday (Monday to Friday) of the month. */
  lastWeekday: boolean;
  /** `nW`: the weekday nearest day n, within the month. */
  nearestWeekday: ReadonlySet<number>;
}

/** Day of week, as `Date#getUTCDay` numbers (0 = Sunday … 6 = Saturday). */
export interface DayOfWeekField {
  days: ReadonlySet<number>;
  /** `nL`: the last such day of the month. */
  lastOfMonth: ReadonlySet<number>;
  /** `n#k`: the k-th such day of the month. */
  nth: readonly { day: number; n: number }[];
}

export interface CronSchedule {
  expression: string;
  minutes: ReadonlySet<number>;
  hours: ReadonlySet<number>;
  dayOfMonth: DayOfMonthField;
  months: ReadonlySet<number>;
  dayOfWeek: DayOfWeekField;
  /** Whether day of month / day of week were restricted (not `*`): a day matches either when both are. */
  domRestricted: boolean;
  dowRestricted: boolean;
}

/** An expression Cloudflare would refuse; the message names the expression, and the field and value at fault. */
export class CronError extends Error {
  override name = "CronError";
}

/** `cron "<expression>": <field> "<value>" …` */
function fieldError(expression: string, problem: string): CronError {
  return new CronError(`cron "${expression}": ${problem}`);
}

const INTEGER = /^\d+$/;

function rangeText(field: FieldSpec): string {
  const names = field.names ? ` or ${field.names[0]}-${field.names[field.names.length - 1]}` : "";
  return `between ${field.min} and ${field.max}${names}`;
}

/** One value of a field, by number or by name; throws naming the field and the text. */
function value(text: string, field: FieldSpec, expression: string, shown = text): number {
  const byName = field.names?.indexOf(text.toUpperCase()) ?? -1;
  const n = byName >= 0 ? field.min + byName : INTEGER.test(text) ? Number(text) : Number.NaN;
  if (!(n >= field.min && n <= field.max)) {
    throw fieldError(expression, `${field.name} "${shown}" must be ${rangeText(field)}`);
  }
  return n;
}

/** `*`, `a`, `a-b`, each optionally `/step`, added to `set`. */
function addRange(item: string, field: FieldSpec, expression: string, set: Set<number>): void {
  const [range = "", stepText, extra] = item.split("/");
  if (extra !== undefined) throw fieldError(expression, `${field.name} "${item}" has more than one "/"`);
  const step = stepText === undefined ? 1 : INTEGER.test(stepText) ? Number(stepText) : 0;
  if (step < 1)
    throw fieldError(expression, `${field.name} step "${stepText}" must be a whole number of 1 or more`);
  let lo: number;
  let hi: number;
  if (range === "*") {
    lo = field.min;
    hi = field.max;
  } else if (range.includes("-")) {
    const [a = "", b = "", more] = range.split("-");
    if (more !== undefined)
      throw fieldError(expression, `${field.name} range "${range}" has more than one "-"`);
    lo = value(a, field, expression, a || range);
    hi = value(b, field, expression, b || range);
    if (lo > hi) throw fieldError(expression, `${field.name} range "${range}" is reversed`);
  } else {
    lo = value(range, field, expression);
    hi = stepText === undefined ? lo : field.max;
  }
  for (let n = lo; n <= hi; n += step) set.add(n);
}

function parseDayOfMonth(text: string, expression: string): DayOfMonthField {
  const days = new Set<number>();
  const nearestWeekday = new Set<number>();
  let last = false;
  let lastWeekday = false;
  for (const item of text.split(",")) {
    const upper = item.toUpperCase();
    if (upper === "L") last = true;
    else if (upper === "LW") lastWeekday = true;
    else if (upper.endsWith("W"))
      nearestWeekday.add(value(upper.slice(0, -1), DAY_OF_MONTH, expression, item));
    else addRange(item, DAY_OF_MONTH, expression, days);
  }
  return { days, last, lastWeekday, nearestWeekday };
}

function parseDayOfWeek(text: string, expression: string): DayOfWeekField {
  const days = new Set<number>();
  const lastOfMonth = new Set<number>();
  const nth: { day: number; n: number }[] = [];
  // Cloudflare's 1-7 (Sunday first) to getUTCDay's 0-6.
  const day = (t: string, shown: string) => value(t, DAY_OF_WEEK, expression, shown) - 1;
  for (const item of text.split(",")) {
    const upper = item.toUpperCase();
    const hash = upper.indexOf("#");
    if (upper === "L") days.add(6);
    else if (upper.endsWith("L")) lastOfMonth.add(day(upper.slice(0, -1), item));
    else if (hash >= 0) {
      const k = upper.slice(hash + 1);
      if (!/^[1-5]$/.test(k)) {
        throw fieldError(
          expression,
          `day of week "${item}": the occurrence after "#" must be between 1 and 5`,
        );
      }
      nth.push({ day: day(upper.slice(0, hash), item), n: Number(k) });
    } else {
      const values = new Set<number>();
      addRange(item, DAY_OF_WEEK, expression, values);
      for (const v of values) days.add(v - 1);
    }
  }
  return { days, lastOfMonth, nth };
}

function parseSet(text: string, field: FieldSpec, expression: string): Set<number> {
  const set = new Set<number>();
  for (const item of text.split(",")) addRange(item, field, expression, set);
  return set;
}

/** Parses a cron expression by Cloudflare's rules; throws a `CronError` naming the field and value that are wrong. */
export function parseCron(expression: string): CronSchedule {
  const trimmed = expression.trim();
  const parts = trimmed === "" ? [] : trimmed.split(/\s+/);
  if (parts.length !== 5) {
    throw new CronError(`cron "${expression}" must have 5 fields (got ${parts.length})`);
  }
  const [minute, hour, dom, month, dow] = parts as [string, string, string, string, string];
  return {
    expression,
    minutes: parseSet(minute, MINUTE, expression),
    hours: parseSet(hour, HOUR, expression),
    dayOfMonth: parseDayOfMonth(dom, expression),
    months: parseSet(month, MONTH, expression),
    dayOfWeek: parseDayOfWeek(dow, expression),
    domRestricted: dom !== "*",
    dowRestricted: dow !== "*",
  };
}

/**
 * What is wrong with a cron expression (`cron "<expression>" …`, the `CronError`'s message), or undefined
 * when Cloudflare accepts it.
 */
export function cronProblem(expression: string): string | undefined {
  try {
    parseCron(expression);
    return undefined;
  } catch (err) {
    if (err instanceof CronError) return err.message;
    throw err;
  }
}

function daysInMonth(year: number, month0: number): number {
  return new Date(Date.UTC(year, month0 + 1, 0)).getUTCDate();
}

function weekday(year: number, month0: number, day: number): number {
  return new Date(Date.UTC(year, month0, day)).getUTCDay();
}

/** The weekday nearest `day` within its month (Quartz's `W`); undefined when the month has no such day. */
function nearestWeekdayTo(year: number, month0: number, day: number): number | undefined {
  const last = daysInMonth(year, month0);
  if (day > last) return undefined;
  const wd = weekday(year, month0, day);
  if (wd === 6) return day === 1 ? 3 : day - 1;
  if (wd === 0) return day === last ? day - 2 : day + 1;
  return day;
}

function dayOfMonthMatches(field: DayOfMonthField, date: Date): boolean {
  const year = date.getUTCFullYear();
  const month0 = date.getUTCMonth();
  const day = date.getUTCDate();
  if (field.days.has(day)) return true;
  const last = daysInMonth(year, month0);
  if (field.last && day === last) return true;
  if (field.lastWeekday && day === nearestWeekdayTo(year, month0, last)) return true;
  for (const n of field.nearestWeekday) if (day === nearestWeekdayTo(year, month0, n)) return true;
  return false;
}

function dayOfWeekMatches(field: DayOfWeekField, date: Date): boolean {
  const wd = date.getUTCDay();
  if (field.days.has(wd)) return true;
  const day = date.getUTCDate();
  if (field.lastOfMonth.has(wd) && day + 7 > daysInMonth(date.getUTCFullYear(), date.getUTCMonth()))
    return true;
  return field.nth.some((x) => x.day === wd && Math.ceil(day / 7) === x.n);
}

/** Whether the schedule fires in the UTC minute that contains `date`. */
export function cronMatches(schedule: CronSchedule, date: Date): boolean {
  if (
    !schedule.minutes.has(date.getUTCMinutes()) ||
    !schedule.hours.has(date.getUTCHours()) ||
    !schedule.months.has(date.getUTCMonth() + 1)
  ) {
    return false;
  }
  const domOk = dayOfMonthMatches(schedule.dayOfMonth, date);
  const dowOk = dayOfWeekMatches(schedule.dayOfWeek, date);
  if (schedule.domRestricted && schedule.dowRestricted) return domOk || dowOk;
  return domOk && dowOk;
}
