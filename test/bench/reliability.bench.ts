// npm run bench:reliability -- [--kills 200] [--clients 16] [--seconds 60] [--race-rounds 20]
// Three ways to lose people's samples, each tried hard: SIGKILLs at random moments, many
// clients at once, and set_state racing training. One table of what was tried and what was
// lost (must be 0), plus latency per operation and the server's RSS under load.
import { parseArgs } from 'node:util';
import { runCrashKills } from './reliability/crash-kills';
import { runLoad } from './reliability/load';
import { runSetStateRace } from './reliability/set-state-race';
import { table } from './stats';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      kills: { type: 'string', default: '200' },
      clients: { type: 'string', default: '16' },
      seconds: { type: 'string', default: '60' },
      'race-rounds': { type: 'string', default: '20' },
    },
  });
  const kills = Number(values.kills);
  const clients = Number(values.clients);
  const seconds = Number(values.seconds);
  const raceRounds = Number(values['race-rounds']);

  console.error(`crash-kill loop: ${kills} kills…`);
  const crash = await runCrashKills(kills);
  console.error(`load: ${clients} clients for ${seconds} s…`);
  const load = await runLoad({ clients, seconds });
  console.error(`set_state race: ${raceRounds} rounds…`);
  const race = await runSetStateRace(raceRounds);

  const n = (v: number) => String(v);
  console.log('bench:reliability');
  console.log(
    table(
      ['case', 'tried', '5xx', 'samples lost', 'invariant violations', 'other failures'],
      [
        [
          `SIGKILL during add/train/clean/get_state/set_state`,
          `${crash.kills} kills, ${crash.requests} requests (${crash.served} answered)`,
          n(crash.serverErrors),
          n(crash.samplesLost),
          n(crash.invariantViolations),
          `${crash.interruptedWrong} of ${crash.interruptedChecked} cut-off tasks not "interrupted"`,
        ],
        [
          `${clients} clients × ${seconds} s, 4 tags`,
          `${load.requests} requests`,
          n(load.serverErrors),
          n(load.samplesLost),
          n(load.invariantViolations),
          `${Object.values(load.byOperation).reduce((a, o) => a + o.clientErrors, 0)} 4xx (user errors, e.g. a picture already on the other side)`,
        ],
        [
          `2 × set_state racing training`,
          `${race.rounds} rounds`,
          n(race.serverErrors),
          '—',
          n(race.invariantViolations),
          `${race.mixedStates} mixed states, ${race.tasksStuck} tasks stuck`,
        ],
      ],
    ),
  );
  console.log(`\nUnder load (${clients} clients):`);
  console.log(
    table(
      ['operation', 'requests', 'p50 ms', 'p99 ms', '4xx'],
      Object.entries(load.byOperation).map(([op, o]) => [op, n(o.count), o.p50.toFixed(0), o.p99.toFixed(0), n(o.clientErrors)]),
    ),
  );
  const curve = load.rssMb.filter((_, i) => i % 10 === 0 || i === load.rssMb.length - 1);
  console.log(`\nServer RSS (MB), every 10 s: ${curve.map((v) => v.toFixed(0)).join(' → ')} (max ${Math.max(...load.rssMb).toFixed(0)})`);
  for (const p of [...crash.problems, ...load.problems, ...race.problems].slice(0, 20)) console.log(`  ${p}`);
  const lost =
    crash.samplesLost +
    crash.invariantViolations +
    crash.interruptedWrong +
    crash.serverErrors +
    load.serverErrors +
    load.samplesLost +
    load.invariantViolations +
    race.serverErrors +
    race.invariantViolations +
    race.mixedStates +
    race.tasksStuck;
  if (lost > 0) process.exitCode = 1;
}

void main();
