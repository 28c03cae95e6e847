/** The dashboard's routes alone, as the Client Worker serves them (for bench:dashboard-serving). */
import { Hono } from "hono";
import { dashboardRoutes } from "../../workers-src/builds/client/routes/dashboard";

const app = new Hono();
app.route("/", dashboardRoutes);
export default app;
