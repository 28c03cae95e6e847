/** A module of the dashboard as the browser gets it (see components/browser-modules.ts). */
declare module "*?browser" {
  const text: string;
  export default text;
}
