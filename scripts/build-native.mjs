// Builds the native addon with node-gyp against the headers of the running Node, so no header download is needed
// (Debian's node keeps them in /usr/include/node, nvm and the official tarballs in <prefix>/include/node).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const prefix = dirname(dirname(process.execPath));
const args = ['rebuild'];
if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
else if (existsSync('/usr/include/node/node_api.h')) args.push('--nodedir=/usr');
const gyp = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
const r = spawnSync(process.execPath, [gyp, ...args, '-j', 'max'], { stdio: 'inherit' });
process.exit(r.status ?? 1);
