/** Type tokens of the migration resources (dynamic resources of module `workers-platform`). */
export const SQL_MIGRATIONS_TYPE = "pulumi-nodejs:dynamic/workers-platform:SqlMigrations";
export const D1_MIGRATIONS_TYPE = "pulumi-nodejs:dynamic/workers-platform:D1Migrations";
