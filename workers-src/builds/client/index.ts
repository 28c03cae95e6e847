import { app } from "./app";

export type { ClientEnv } from "./env";

export default app;
