// args.mjs: the command line of the Node peer servers (ws_echo.mjs, nestjs_echo.mjs).

// The port from `--port N` or `--port=N` (0 picks a free one); throws with `usage` when
// there is none or it is not a port.
export function parsePort(argv, usage) {
  for (let i = 0; i < argv.length; i++) {
    let value;
    if (argv[i] === '--port') value = argv[i + 1];
    else if (argv[i].startsWith('--port=')) value = argv[i].slice('--port='.length);
    else continue;
    const port = Number(value);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new Error(`bad --port value: ${value}`);
    }
    return port;
  }
  throw new Error(usage);
}
