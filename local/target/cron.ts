/**
 * The local target fires `scheduled` handlers with the components' cron parser and matcher, so a schedule
 * fires locally exactly when the `Worker` component accepted it at preview (Cloudflare's rules, UTC).
 */
export { type CronSchedule, cronMatches, parseCron } from "../../components/cron";
