/** Bench case: 1,000 user pictures in one zip (photo-like 640x480 JPEGs and 480x640 PNGs); users made first, not measured. */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import sharp from 'sharp';
import type { RowDataPacket } from 'mysql2';
import { buildZip } from '../test/support/zip';
import { writeLines, type Case } from './case';

const PICTURES = 1_000;
const PREFIX = 'benchpic';

/** A photo-like image: gradients and noise, so the JPEG is not trivially small (~40 KB). */
async function photo(i: number, width: number, height: number, format: 'jpeg' | 'png'): Promise<Buffer> {
  const px = Buffer.alloc(width * height * 3);
  let seed = i * 2654435761;
  for (let p = 0; p < width * height; p++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const x = p % width;
    const y = Math.floor(p / width);
    px[p * 3] = (x * 255) / width + (seed & 15);
    px[p * 3 + 1] = (y * 255) / height + ((seed >> 4) & 15);
    px[p * 3 + 2] = (i * 37 + ((seed >> 8) & 31)) & 255;
  }
  const img = sharp(px, { raw: { width, height, channels: 3 } });
  return format === 'jpeg' ? img.jpeg({ quality: 85 }).toBuffer() : img.png().toBuffer();
}

export function picturesCase(): Case {
  return {
    key: 'pictures', label: '1,000 user pictures (zip)', rows: PICTURES, tool: 'userpictures', ext: 'zip', target: 50,
    async setup(sb) {
      const users = path.join(sb.storeRoot, `${PREFIX}-users.csv`);
      await writeLines(users, 'username;firstname;lastname;email', PICTURES, (i) => `${PREFIX}${i};First${i};Last${i};${PREFIX}${i}@bench.example.com`);
      const r = await sb.cli(['run', 'users', '--file', path.basename(users), '--wait', '--json']);
      if (r.json?.rows?.applied !== PICTURES) throw new Error(`pictures setup: users not created: ${r.stderr || r.stdout}`);
    },
    async write(abs) {
      const entries = [];
      for (let i = 1; i <= PICTURES; i++) {
        const png = i % 10 === 0; // one in ten a portrait PNG
        entries.push({ name: `photos/${PREFIX}${i}.${png ? 'png' : 'jpg'}`, data: await photo(i, png ? 480 : 640, png ? 640 : 480, png ? 'png' : 'jpeg') });
      }
      await fsp.writeFile(abs, buildZip(entries));
    },
    async verify(sb, rows) {
      const [[u]] = await sb.db.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM mdl_user WHERE username LIKE ? AND picture <> 0', [`${PREFIX}%`]);
      const [[f]] = await sb.db.query<RowDataPacket[]>(
        `SELECT COUNT(*) AS n FROM mdl_files f JOIN mdl_context c ON c.id = f.contextid AND c.contextlevel = 30 JOIN mdl_user u ON u.id = c.instanceid
          WHERE u.username LIKE ? AND f.component = 'user' AND f.filearea = 'icon'`, [`${PREFIX}%`]);
      if (rows.applied !== PICTURES || Number(u.n) !== PICTURES || Number(f.n) !== PICTURES * 4) {
        throw new Error(`pictures: expected ${PICTURES} pictures, got ${JSON.stringify(rows)}, ${u.n} users with a picture, ${f.n} files rows`);
      }
    },
  };
}
