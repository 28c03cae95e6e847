import { describe, expect, it } from "vitest";
import { CronError, cronMatches, cronProblem, parseCron } from "./cron";

const at = (iso: string) => new Date(`${iso}Z`);
const fires = (expression: string, iso: string) => cronMatches(parseCron(expression), at(iso));

describe("parseCron accepts Cloudflare's syntax", () => {
  it.each([
    "* * * * *",
    "*/30 * * * *",
    "45 * * * *",
    "0 17 * * sun",
    "0 17 * * 1",
    "10 7 * * mon-fri",
    "10 7 * * 2-6",
    "0 15 1 * *",
    "0 18 * * 6L",
    "0 18 * * friL",
    "59 23 LW * *",
    "0 0 L * *",
    "0 0 l * *",
    "0 0 15W * *",
    "0 0 15w * *",
    "0 0 1,L * *",
    "0 0 * * 6#3",
    "0 0 * * FRI#3",
    "0 0 * * fri#5",
    "0 0 * * L",
    "0 0 * * 7",
    "0 0 1 JAN,jul *",
    "0 0 1 Jan-Mar *",
    "0 0 * */3 *",
    "5/20 * * * *",
    "10-50/10 0-23/6 1-31/2 1-12/4 1-7/2",
    "  0   3  *  *  *  ",
    "0 0 L * MON",
  ])("%s", (expression) => {
    expect(cronProblem(expression)).toBeUndefined();
    expect(parseCron(expression).expression).toBe(expression);
  });
});

describe("parseCron refuses, naming the field and value", () => {
  it.each([
    ["", 'cron "" must have 5 fields (got 0)'],
    ["* * * *", 'cron "* * * *" must have 5 fields (got 4)'],
    ["* * * * * *", 'cron "* * * * * *" must have 5 fields (got 6)'],
    ["every minute", 'cron "every minute" must have 5 fields (got 2)'],
    ["60 * * * *", 'cron "60 * * * *": minute "60" must be between 0 and 59'],
    ["-1 * * * *", 'cron "-1 * * * *": minute "-1" must be between 0 and 59'],
    ["1,,2 * * * *", 'cron "1,,2 * * * *": minute "" must be between 0 and 59'],
    ["1.5 * * * *", 'cron "1.5 * * * *": minute "1.5" must be between 0 and 59'],
    ["L * * * *", 'cron "L * * * *": minute "L" must be between 0 and 59'],
    ["* 24 * * *", 'cron "* 24 * * *": hour "24" must be between 0 and 23'],
    ["* * 0 * *", 'cron "* * 0 * *": day of month "0" must be between 1 and 31'],
    ["* * 32 * *", 'cron "* * 32 * *": day of month "32" must be between 1 and 31'],
    ["* * ? * *", 'cron "* * ? * *": day of month "?" must be between 1 and 31'],
    ["* * MON * *", 'cron "* * MON * *": day of month "MON" must be between 1 and 31'],
    ["* * 32W * *", 'cron "* * 32W * *": day of month "32W" must be between 1 and 31'],
    ["* * 0W * *", 'cron "* * 0W * *": day of month "0W" must be between 1 and 31'],
    ["* * 1-5W * *", 'cron "* * 1-5W * *": day of month "1-5W" must be between 1 and 31'],
    ["* * * 0 *", 'cron "* * * 0 *": month "0" must be between 1 and 12 or JAN-DEC'],
    ["* * * 13 *", 'cron "* * * 13 *": month "13" must be between 1 and 12 or JAN-DEC'],
    ["* * * FOO *", 'cron "* * * FOO *": month "FOO" must be between 1 and 12 or JAN-DEC'],
    ["* * * L *", 'cron "* * * L *": month "L" must be between 1 and 12 or JAN-DEC'],
    ["* * * * 0", 'cron "* * * * 0": day of week "0" must be between 1 and 7 or SUN-SAT'],
    ["* * * * 8", 'cron "* * * * 8": day of week "8" must be between 1 and 7 or SUN-SAT'],
    ["* * * * MON-FOO", 'cron "* * * * MON-FOO": day of week "FOO" must be between 1 and 7 or SUN-SAT'],
    ["* * * * 5W", 'cron "* * * * 5W": day of week "5W" must be between 1 and 7 or SUN-SAT'],
    ["* * * * 8L", 'cron "* * * * 8L": day of week "8L" must be between 1 and 7 or SUN-SAT'],
    ["* * * * 8#2", 'cron "* * * * 8#2": day of week "8#2" must be between 1 and 7 or SUN-SAT'],
    [
      "* * * * 6#6",
      'cron "* * * * 6#6": day of week "6#6": the occurrence after "#" must be between 1 and 5',
    ],
    [
      "* * * * 6#0",
      'cron "* * * * 6#0": day of week "6#0": the occurrence after "#" must be between 1 and 5',
    ],
    ["* * * * 6#", 'cron "* * * * 6#": day of week "6#": the occurrence after "#" must be between 1 and 5'],
    ["*/0 * * * *", 'cron "*/0 * * * *": minute step "0" must be a whole number of 1 or more'],
    ["* */x * * *", 'cron "* */x * * *": hour step "x" must be a whole number of 1 or more'],
    ["*/5/2 * * * *", 'cron "*/5/2 * * * *": minute "*/5/2" has more than one "/"'],
    ["1-2-3 * * * *", 'cron "1-2-3 * * * *": minute range "1-2-3" has more than one "-"'],
    ["30-10 * * * *", 'cron "30-10 * * * *": minute range "30-10" is reversed'],
    ["* * * * SAT-SUN", 'cron "* * * * SAT-SUN": day of week range "SAT-SUN" is reversed'],
  ])("%j", (expression, message) => {
    const thrown = (() => {
      try {
        parseCron(expression);
      } catch (err) {
        return err;
      }
    })();
    expect(thrown).toBeInstanceOf(CronError);
    expect((thrown as Error).message).toBe(message);
    expect(cronProblem(expression)).toBe(message);
  });
});

describe("cronMatches (UTC)", () => {
  it.each([
    // Minutes, hours, steps, lists.
    ["* * * * *", "2026-11-23T10:17:00", true],
    ["*/5 * * * *", "2026-11-23T10:15:30", true],
    ["*/5 * * * *", "2026-11-23T10:17:00", false],
    ["5/20 * * * *", "2026-11-23T00:45:00", true],
    ["5/20 * * * *", "2026-11-23T00:05:00", true],
    ["5/20 * * * *", "2026-11-23T00:00:00", false],
    ["10-20/5 * * * *", "2026-11-23T00:15:00", true],
    ["10-20/5 * * * *", "2026-11-23T00:25:00", false],
    ["15,45 * * * *", "2026-11-23T08:45:00", true],
    ["15,45 * * * *", "2026-11-23T08:30:00", false],
    ["0 3 * * *", "2026-11-23T03:00:00", true],
    ["0 3 * * *", "2026-11-23T04:00:00", false],
    ["59 23 * * *", "2026-11-23T23:59:59", true],
    // Months by number and name.
    ["0 0 1 JAN *", "2027-01-01T00:00:00", true],
    ["0 0 1 jan *", "2027-02-01T00:00:00", false],
    ["0 0 1 Jan-Mar *", "2027-03-01T00:00:00", true],
    ["0 0 1 Jan-Mar *", "2027-04-01T00:00:00", false],
    ["0 0 1 */3 *", "2027-04-01T00:00:00", true],
    ["0 0 1 */3 *", "2027-05-01T00:00:00", false],
    // Day of week: 1 is Sunday, 7 is Saturday (2026-11-22 is a Sunday).
    ["0 17 * * sun", "2026-11-22T17:00:00", true],
    ["0 17 * * 1", "2026-11-22T17:00:00", true],
    ["0 17 * * 1", "2026-11-23T17:00:00", false],
    ["0 0 * * 7", "2026-11-28T00:00:00", true],
    ["0 0 * * 7", "2026-11-22T00:00:00", false],
    ["0 0 * * SAT", "2026-11-28T00:00:00", true],
    ["0 0 * * L", "2026-11-28T00:00:00", true],
    ["0 0 * * L", "2026-11-27T00:00:00", false],
    ["10 7 * * 2-6", "2026-11-23T07:10:00", true],
    ["10 7 * * 2-6", "2026-11-27T07:10:00", true],
    ["10 7 * * mon-fri", "2026-11-22T07:10:00", false],
    ["10 7 * * mon-fri", "2026-11-28T07:10:00", false],
    ["0 0 * * */2", "2026-11-24T00:00:00", true], // 1,3,5,7: Sunday, Tuesday, Thursday, Saturday
    ["0 0 * * */2", "2026-11-23T00:00:00", false],
    // L in day of month: the month's last day, leap years included.
    ["0 0 L * *", "2027-02-28T00:00:00", true],
    ["0 0 L * *", "2027-02-27T00:00:00", false],
    ["0 0 L * *", "2028-02-28T00:00:00", false],
    ["0 0 L * *", "2028-02-29T00:00:00", true],
    ["0 0 L * *", "2026-04-30T00:00:00", true],
    ["0 0 L * *", "2026-12-31T00:00:00", true],
    ["0 0 L * *", "2026-12-30T00:00:00", false],
    ["0 0 1,L * *", "2026-11-01T00:00:00", true],
    ["0 0 1,L * *", "2026-11-30T00:00:00", true],
    ["0 0 1,L * *", "2026-11-15T00:00:00", false],
    // W: the weekday nearest the day, within its month.
    ["0 0 15W * *", "2026-06-15T00:00:00", true], // a Monday
    ["0 0 15W * *", "2026-08-14T00:00:00", true], // the 15th is a Saturday: Friday the 14th
    ["0 0 15W * *", "2026-08-15T00:00:00", false],
    ["0 0 15W * *", "2026-08-17T00:00:00", false],
    ["0 0 15W * *", "2026-11-16T00:00:00", true], // the 15th is a Sunday: Monday the 16th
    ["0 0 15W * *", "2026-11-15T00:00:00", false],
    ["0 0 15W * *", "2026-11-13T00:00:00", false],
    ["0 0 1W * *", "2026-08-03T00:00:00", true], // the 1st is a Saturday: Monday the 3rd, not July 31st
    ["0 0 1W * *", "2026-07-31T00:00:00", false],
    ["0 0 1W * *", "2026-08-01T00:00:00", false],
    ["0 0 1W * *", "2026-02-02T00:00:00", true], // the 1st is a Sunday
    ["0 0 31W * *", "2026-05-29T00:00:00", true], // the 31st is a Sunday: Friday the 29th, not June 1st
    ["0 0 31W * *", "2026-06-01T00:00:00", false],
    ["0 0 31W * *", "2026-05-31T00:00:00", false],
    ["0 0 30W * *", "2026-02-27T00:00:00", false], // February has no 30th
    ["59 23 LW * *", "2026-06-30T23:59:00", true], // a Tuesday
    ["59 23 LW * *", "2026-06-30T23:58:00", false],
    ["59 23 LW * *", "2026-01-30T23:59:00", true], // the 31st is a Saturday
    ["59 23 LW * *", "2026-01-31T23:59:00", false],
    ["59 23 LW * *", "2026-05-29T23:59:00", true], // the 31st is a Sunday
    ["59 23 LW * *", "2026-05-31T23:59:00", false],
    // L in day of week: the month's last such day (6 = Friday).
    ["0 18 * * 6L", "2026-11-27T18:00:00", true],
    ["0 18 * * 6L", "2026-11-20T18:00:00", false],
    ["0 18 * * friL", "2027-01-29T18:00:00", true],
    ["0 18 * * friL", "2027-01-22T18:00:00", false],
    ["0 0 * * 1L", "2026-11-29T00:00:00", true], // the last Sunday
    ["0 0 * * 1L", "2026-11-22T00:00:00", false],
    // #: the n-th such day of the month.
    ["0 0 * * 6#3", "2026-11-20T00:00:00", true], // Fridays 6, 13, 20, 27
    ["0 0 * * 6#3", "2026-11-13T00:00:00", false],
    ["0 0 * * 6#3", "2026-11-27T00:00:00", false],
    ["0 0 * * FRI#3", "2026-11-20T00:00:00", true],
    ["0 0 * * mon#1", "2026-11-02T00:00:00", true],
    ["0 0 * * mon#1", "2026-11-09T00:00:00", false],
    ["0 0 * * 6#5", "2027-01-29T00:00:00", true], // Fridays 1, 8, 15, 22, 29
    ["0 0 * * 6#5", "2026-11-27T00:00:00", false], // the 4th and last Friday
    // Both day fields restricted: either matches, as in cron.
    ["0 0 1 * MON", "2026-11-23T00:00:00", true],
    ["0 0 1 * MON", "2026-12-01T00:00:00", true],
    ["0 0 1 * MON", "2026-11-24T00:00:00", false],
    ["0 0 L * MON", "2026-12-31T00:00:00", true],
    ["0 0 L * MON", "2026-12-30T00:00:00", false],
    ["0 0 1 * 6#3", "2026-11-20T00:00:00", true],
    // One restricted: it alone decides.
    ["0 0 * * MON", "2026-11-24T00:00:00", false],
    ["0 0 L * *", "2026-11-29T00:00:00", false],
  ])("%s at %s → %s", (expression, time, expected) => {
    expect(fires(expression, time)).toBe(expected);
  });

  it("reads the date in UTC, whatever its offset", () => {
    const schedule = parseCron("30 23 L * *");
    expect(cronMatches(schedule, new Date("2026-12-01T00:30:00+01:00"))).toBe(true); // 23:30 on Nov 30 UTC
    expect(cronMatches(schedule, new Date("2026-11-30T23:30:00-01:00"))).toBe(false); // Dec 1 UTC
  });
});
