// The arguments `npm start` gives `wrangler dev`: port 8787 unless the user names one
// (`npm start -- --port 8791`; wrangler refuses a second --port).
export function wranglerDevArgs(userArgs) {
  const namesPort = userArgs.some((a) => a === "--port" || a.startsWith("--port=") || a === "-p");
  return ["wrangler", "dev", ...(namesPort ? [] : ["--port", "8787"]), ...userArgs];
}
