import { describe, expect, it } from "vitest";
import { cronMatches, parseCron } from "./cron";

const at = (iso: string) => new Date(`${iso}Z`);

describe("cronMatches", () => {
  it.each([
    ["* * * * *", "2026-11-23T10:17:00", true],
    ["*/5 * * * *", "2026-11-23T10:15:30", true],
    ["*/5 * * * *", "2026-11-23T10:17:00", false],
    ["0 3 * * *", "2026-11-23T03:00:00", true],
    ["0 3 * * *", "2026-11-23T04:00:00", false],
    ["15,45 * * * *", "2026-11-23T08:45:00", true],
    ["0 9-17 * * MON-FRI", "2026-11-23T12:00:00", true], // a Monday
    ["0 9-17 * * MON-FRI", "2026-11-22T12:00:00", false], // a Sunday
    // Cloudflare numbers the days of the week 1 (Sunday) to 7 (Saturday); 2026-11-22 is a Sunday.
    ["0 0 * * 1", "2026-11-22T00:00:00", true],
    ["0 0 * * 7", "2026-11-22T00:00:00", false],
    ["0 0 * * 7", "2026-11-28T00:00:00", true],
    ["0 0 1 JAN *", "2027-01-01T00:00:00", true],
    ["0 0 1 * *", "2026-11-02T00:00:00", false],
    // Both day fields restricted: either matches, as in cron.
    ["0 0 1 * MON", "2026-11-23T00:00:00", true],
    ["0 0 1 * MON", "2026-12-01T00:00:00", true],
    ["0 0 1 * MON", "2026-11-24T00:00:00", false],
    ["10-20/5 * * * *", "2026-11-23T00:15:00", true],
    ["10-20/5 * * * *", "2026-11-23T00:25:00", false],
    ["5/20 * * * *", "2026-11-23T00:45:00", true],
    // Quartz's extensions, which Cloudflare accepts: the target fires them instead of refusing to start.
    ["0 0 L * *", "2027-02-28T00:00:00", true],
    ["0 0 L * *", "2028-02-28T00:00:00", false],
    ["0 0 L * *", "2028-02-29T00:00:00", true],
    ["0 0 15W * *", "2026-08-14T00:00:00", true], // the 15th is a Saturday
    ["0 0 15W * *", "2026-11-16T00:00:00", true], // the 15th is a Sunday
    ["0 0 15W * *", "2026-11-15T00:00:00", false],
    ["0 0 * * 6#3", "2026-11-20T00:00:00", true], // the third Friday
    ["0 0 * * 6#3", "2026-11-13T00:00:00", false],
  ])("%s at %s → %s", (expression, time, expected) => {
    expect(cronMatches(parseCron(expression), at(time))).toBe(expected);
  });
});

describe("parseCron refuses", () => {
  it.each([
    ["* * * *", 'cron "* * * *" must have 5 fields (got 4)'],
    ["60 * * * *", 'cron "60 * * * *": minute "60" must be between 0 and 59'],
    ["* 24 * * *", 'cron "* 24 * * *": hour "24" must be between 0 and 23'],
    ["* * 0 * *", 'cron "* * 0 * *": day of month "0" must be between 1 and 31'],
    ["* * * FOO *", 'cron "* * * FOO *": month "FOO" must be between 1 and 12'],
    ["*/0 * * * *", 'cron "*/0 * * * *": minute step "0" must be a whole number of 1 or more'],
    ["* * * * 0", 'cron "* * * * 0": day of week "0" must be between 1 and 7 or SUN-SAT'],
    ["30-10 * * * *", 'cron "30-10 * * * *": minute range "30-10" is reversed'],
  ])("%s", (expression, message) => {
    expect(() => parseCron(expression)).toThrow(message);
  });
});
