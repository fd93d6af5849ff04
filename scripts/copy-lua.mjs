// tsc does not copy non-TS assets; the Lua scripts ship beside the compiled loader.
import { cpSync } from 'node:fs';

cpSync('lib/redis/lua', 'dist/lib/redis/lua', { recursive: true });
