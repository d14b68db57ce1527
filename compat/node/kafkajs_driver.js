#!/usr/bin/env node
// kafkajs compatibility driver for the gregor tests.
//
// One subcommand per run, talking to --bootstrap HOST:PORT. Results are JSON lines on
// stdout; kafkajs' own log goes to stderr. Bytes (keys, values, header keys and values)
// are base64 so that the caller can compare them byte for byte; a JSON null is a null.
// On failure the error is printed to stderr as one JSON object and the exit status is
// non-zero (1 = Kafka/client error, 2 = bad usage or unsupported by kafkajs,
// 3 = overall --timeout-ms exceeded).
//
// Record input (produce --input FILE|-), one JSON object a line:
//   {"key": b64|null, "value": b64|null, "headers": [[key_b64, value_b64], ...],
//    "partition": int (optional), "timestamp": ms (optional)}
// kafkajs limitations on that format: header keys must be UTF-8 text, header values
// cannot be null, and repeated header keys must be adjacent (kafkajs keeps headers in an
// object, so it would regroup them). Records that kafkajs cannot represent exactly are
// refused with exit 2 rather than silently changed.
'use strict'

const fs = require('fs')
const path = require('path')

let kafkajs
try {
  kafkajs = require('kafkajs')
} catch (e) {
  process.stderr.write(
    JSON.stringify({ error: 'KafkaJSMissing', message: `cannot load kafkajs: ${e.message}` }) + '\n'
  )
  process.exit(2)
}
const { Kafka, logLevel: LogLevel, CompressionTypes, Partitioners } = kafkajs

const USAGE = `usage: node ${path.basename(__filename)} <command> --bootstrap HOST:PORT [options]

commands:
  metadata            [--topic T ...]                     brokers, controller, topics and partitions
  list-topics                                             topic names (no auto-creation)
  admin-create        --topic T [--partitions P] [--replication-factor R]
                      [--config NAME=VALUE ...] [--no-wait-for-leaders]
                                                          prints {"created": bool} (false = already existed)
  admin-delete        --topic T [--topic T2 ...]
  admin-create-partitions --topic T --count N             grow the topic to N partitions in total
  offsets             --topic T                           per partition: low, high (= next offset)
  offsets-by-time     --topic T --ts MS                   per partition: first offset with timestamp >= MS
  describe-configs    --topic T [--name CONFIG ...] | --broker ID
  alter-configs       --topic T --set NAME=VALUE ...      (kafkajs uses the legacy AlterConfigs API)
  produce             --topic T (--input FILE|- | --count N [--with-headers] [--null-values])
                      [--partition P] [--compression none|gzip|snappy|lz4|zstd]
                      [--batch-size N] [--acks -1|0|1] [--idempotent] [--max-in-flight N]
                      prints one line per record acknowledged: partition, offset and its content
  consume-group       --topic T --group G --count N [--from-beginning] [--idle-ms MS]
                      needs consumer groups (FindCoordinator/JoinGroup/SyncGroup/Heartbeat/OffsetCommit)
  group-consume       --topic T --group G [--session-timeout-ms MS] [--heartbeat-ms MS]
                      a long-running group member (from the earliest offset when the group
                      has none committed) that commits every batch synchronously and runs
                      until stdin reads "stop" or reaches EOF. Prints JSON-line events
                      (see compat/group_clients.py): start, assign, revoke, rec {p, o, v},
                      commit {offsets}, commit_error, error, closed

common options:
  --bootstrap HOST:PORT   broker to bootstrap from (repeatable)
  --client-id ID          default gregor-compat-kafkajs
  --timeout-ms MS         give up (exit 3) after this long; default 60000
  --request-timeout-ms MS per-request timeout; default 10000
  --retries N             kafkajs retries; default 2
  --log-level LEVEL       nothing|error|warn|info|debug (to stderr); default warn
  --ssl                   TLS (implied by --ssl-ca)
  --ssl-ca FILE           CA certificate (PEM) the broker's certificate must chain to
  --ssl-cert FILE --ssl-key FILE   client certificate and key (PEM) for mTLS
  --sasl-mechanism M      plain|scram-sha-256|scram-sha-512, with --sasl-username/--sasl-password
  --help
`

// ---------------------------------------------------------------- argument parsing

const BOOL_FLAGS = new Set([
  'help',
  'with-headers',
  'null-values',
  'no-wait-for-leaders',
  'from-beginning',
  'idempotent',
  'ssl',
])
const MULTI_FLAGS = new Set(['bootstrap', 'topic', 'config', 'name', 'set'])

function parseArgs(argv) {
  const opts = {}
  const positional = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '-h') {
      opts.help = true
      continue
    }
    if (!arg.startsWith('--')) {
      positional.push(arg)
      continue
    }
    let name = arg.slice(2)
    let value
    const eq = name.indexOf('=')
    if (eq >= 0) {
      value = name.slice(eq + 1)
      name = name.slice(0, eq)
    }
    if (BOOL_FLAGS.has(name)) {
      if (value !== undefined) usageError(`--${name} takes no value`)
      opts[name] = true
      continue
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) usageError(`--${name} needs a value`)
      value = argv[++i]
    }
    if (MULTI_FLAGS.has(name)) {
      opts[name] = (opts[name] || []).concat([value])
    } else {
      opts[name] = value
    }
  }
  return { opts, positional }
}

class UsageError extends Error {
  constructor(message) {
    super(message)
    this.name = 'UsageError'
  }
}

function usageError(message) {
  throw new UsageError(message)
}

function intOpt(opts, name, dflt) {
  if (opts[name] === undefined) return dflt
  const n = Number(opts[name])
  if (!Number.isInteger(n)) usageError(`--${name} must be an integer, got ${opts[name]}`)
  return n
}

function requireOpt(opts, name) {
  if (opts[name] === undefined) usageError(`--${name} is required`)
  return opts[name]
}

function oneTopic(opts) {
  const topics = requireOpt(opts, 'topic')
  if (topics.length !== 1) usageError('exactly one --topic is expected')
  return topics[0]
}

// ---------------------------------------------------------------- output helpers

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

const b64 = buf => (buf === null || buf === undefined ? null : Buffer.from(buf).toString('base64'))

function fromB64(s, what) {
  if (s === null || s === undefined) return null
  if (typeof s !== 'string') usageError(`${what} must be a base64 string or null`)
  return Buffer.from(s, 'base64')
}

function errorJson(e) {
  const out = {
    error: (e && e.name) || 'Error',
    message: (e && e.message) || String(e),
  }
  if (e && e.type) out.type = e.type
  if (e && e.code !== undefined) out.code = e.code
  if (e && e.retriable !== undefined) out.retriable = e.retriable
  if (e && Array.isArray(e.errors)) out.errors = e.errors.map(errorJson)
  if (e && e.originalError) out.cause = errorJson(e.originalError)
  return out
}

// kafkajs logs through console.* by default, i.e. partly to stdout; keep stdout for results.
const stderrLogCreator = () => ({ namespace, level, label, log }) => {
  const { message, ...extra } = log
  process.stderr.write(
    JSON.stringify({ log: label, namespace, message, ...extra }) + '\n'
  )
}

const LOG_LEVELS = {
  nothing: LogLevel.NOTHING,
  error: LogLevel.ERROR,
  warn: LogLevel.WARN,
  info: LogLevel.INFO,
  debug: LogLevel.DEBUG,
}

function makeKafka(opts) {
  const brokers = opts.bootstrap
  if (!brokers || brokers.length === 0) usageError('--bootstrap HOST:PORT is required')
  const level = LOG_LEVELS[(opts['log-level'] || 'warn').toLowerCase()]
  if (level === undefined) usageError(`unknown --log-level ${opts['log-level']}`)
  return new Kafka({
    clientId: opts['client-id'] || 'gregor-compat-kafkajs',
    brokers,
    ssl: sslOptions(opts),
    sasl: saslOptions(opts),
    connectionTimeout: intOpt(opts, 'connection-timeout-ms', 5000),
    requestTimeout: intOpt(opts, 'request-timeout-ms', 10000),
    retry: { retries: intOpt(opts, 'retries', 2), initialRetryTime: 100, maxRetryTime: 2000 },
    logLevel: level,
    logCreator: stderrLogCreator,
  })
}

function sslOptions(opts) {
  if (!opts.ssl && !opts['ssl-ca']) return undefined
  const ssl = { rejectUnauthorized: true }
  if (opts['ssl-ca']) ssl.ca = [fs.readFileSync(opts['ssl-ca'])]
  if (opts['ssl-cert']) ssl.cert = fs.readFileSync(opts['ssl-cert'])
  if (opts['ssl-key']) ssl.key = fs.readFileSync(opts['ssl-key'])
  return ssl
}

function saslOptions(opts) {
  if (!opts['sasl-mechanism']) return undefined
  return {
    mechanism: opts['sasl-mechanism'],
    username: opts['sasl-username'] || '',
    password: opts['sasl-password'] || '',
  }
}

async function withAdmin(kafka, fn) {
  const admin = kafka.admin()
  await admin.connect()
  try {
    return await fn(admin)
  } finally {
    await admin.disconnect().catch(() => {})
  }
}

// ---------------------------------------------------------------- records

function parseNameValue(s, flag) {
  const eq = s.indexOf('=')
  if (eq <= 0) usageError(`--${flag} expects NAME=VALUE, got ${s}`)
  return { name: s.slice(0, eq), value: s.slice(eq + 1) }
}

// Deterministic records for --count; the same shape the Sarama driver generates.
function generateRecords(opts) {
  const count = intOpt(opts, 'count', 0)
  const records = []
  for (let i = 0; i < count; i++) {
    const nullValue = opts['null-values'] && i % 5 === 4
    const rec = {
      key: Buffer.from(`key-${i}`),
      value: nullValue ? null : Buffer.concat([Buffer.from(`value-${i}-`), Buffer.from([0, 0xff, i % 256])]),
      headers: [],
    }
    if (opts['with-headers']) {
      rec.headers.push(['h-index', Buffer.from(String(i))])
      rec.headers.push(['h-bin', Buffer.from([0x00, 0xfe, i % 256])])
    }
    records.push(rec)
  }
  return records
}

function readInputRecords(file) {
  const text = fs.readFileSync(file === '-' ? 0 : file, 'utf8')
  const records = []
  text.split('\n').forEach((line, n) => {
    if (line.trim() === '') return
    let obj
    try {
      obj = JSON.parse(line)
    } catch (e) {
      usageError(`input line ${n + 1}: ${e.message}`)
    }
    const headers = (obj.headers || []).map(([k, v], j) => {
      const keyBuf = fromB64(k, `line ${n + 1} header ${j} key`)
      if (keyBuf === null) usageError(`line ${n + 1} header ${j}: kafkajs cannot send a null header key`)
      const key = keyBuf.toString('utf8')
      if (!Buffer.from(key, 'utf8').equals(keyBuf)) {
        usageError(`line ${n + 1} header ${j}: kafkajs header keys must be valid UTF-8`)
      }
      const value = fromB64(v, `line ${n + 1} header ${j} value`)
      if (value === null) usageError(`line ${n + 1} header ${j}: kafkajs cannot send a null header value`)
      return [key, value]
    })
    records.push({
      key: fromB64(obj.key, `line ${n + 1} key`),
      value: fromB64(obj.value, `line ${n + 1} value`),
      headers,
      partition: obj.partition,
      timestamp: obj.timestamp,
    })
  })
  return records
}

// kafkajs takes headers as an object {key: value | [values]}; it writes them in the
// object's key order (integer-like keys first) with repeated keys' values together.
function headersToKafkajs(headers, where) {
  const obj = {}
  for (const [k, v] of headers) {
    if (Object.prototype.hasOwnProperty.call(obj, k)) {
      obj[k] = Array.isArray(obj[k]) ? obj[k].concat([v]) : [obj[k], v]
    } else {
      obj[k] = v
    }
  }
  const asSent = headersFromKafkajs(obj)
  const same =
    asSent.length === headers.length &&
    asSent.every(([k, v], i) => k === headers[i][0] && v.equals(headers[i][1]))
  if (!same) {
    usageError(`${where}: kafkajs would reorder these headers (repeated keys must be adjacent, no integer-like keys)`)
  }
  return obj
}

function headersFromKafkajs(obj) {
  const out = []
  for (const k of Object.keys(obj || {})) {
    const v = obj[k]
    for (const one of Array.isArray(v) ? v : [v]) {
      out.push([k, one === null || one === undefined ? null : Buffer.from(one)])
    }
  }
  return out
}

const recordJson = rec => ({
  key: b64(rec.key),
  value: b64(rec.value),
  headers: rec.headers.map(([k, v]) => [b64(Buffer.from(k, 'utf8')), b64(v)]),
})

// ---------------------------------------------------------------- commands

async function cmdMetadata(kafka, opts) {
  await withAdmin(kafka, async admin => {
    const cluster = await admin.describeCluster()
    emit({ type: 'cluster', clusterId: cluster.clusterId, controller: cluster.controller, brokers: cluster.brokers })
    const topics = opts.topic || []
    if (topics.length > 0) {
      const md = await admin.fetchTopicMetadata({ topics })
      for (const t of md.topics) {
        emit({
          type: 'topic',
          name: t.name,
          partitions: t.partitions
            .map(p => ({
              partition: p.partitionId,
              leader: p.leader,
              replicas: p.replicas,
              isr: p.isr,
              errorCode: p.partitionErrorCode,
            }))
            .sort((a, b) => a.partition - b.partition),
        })
      }
    }
  })
}

async function cmdListTopics(kafka) {
  await withAdmin(kafka, async admin => {
    const topics = await admin.listTopics()
    emit({ topics: topics.sort() })
  })
}

async function cmdAdminCreate(kafka, opts) {
  const topic = oneTopic(opts)
  const configEntries = (opts.config || []).map(s => parseNameValue(s, 'config'))
  await withAdmin(kafka, async admin => {
    const created = await admin.createTopics({
      topics: [
        {
          topic,
          numPartitions: intOpt(opts, 'partitions', 1),
          replicationFactor: intOpt(opts, 'replication-factor', 1),
          configEntries,
        },
      ],
      waitForLeaders: !opts['no-wait-for-leaders'],
      timeout: intOpt(opts, 'request-timeout-ms', 10000),
    })
    emit({ topic, created })
  })
}

async function cmdAdminDelete(kafka, opts) {
  const topics = requireOpt(opts, 'topic')
  await withAdmin(kafka, async admin => {
    await admin.deleteTopics({ topics, timeout: intOpt(opts, 'request-timeout-ms', 10000) })
    emit({ deleted: topics })
  })
}

async function cmdCreatePartitions(kafka, opts) {
  const topic = oneTopic(opts)
  const count = intOpt(opts, 'count', undefined)
  if (count === undefined) usageError('--count is required')
  await withAdmin(kafka, async admin => {
    const ok = await admin.createPartitions({ topicPartitions: [{ topic, count }] })
    emit({ topic, count, ok })
  })
}

async function cmdOffsets(kafka, opts) {
  const topic = oneTopic(opts)
  await withAdmin(kafka, async admin => {
    const offsets = await admin.fetchTopicOffsets(topic)
    for (const o of offsets.sort((a, b) => a.partition - b.partition)) {
      emit({ partition: o.partition, low: Number(o.low), high: Number(o.high), offset: Number(o.offset) })
    }
  })
}

async function cmdOffsetsByTime(kafka, opts) {
  const topic = oneTopic(opts)
  const ts = intOpt(opts, 'ts', undefined)
  if (ts === undefined) usageError('--ts is required')
  await withAdmin(kafka, async admin => {
    const offsets = await admin.fetchTopicOffsetsByTimestamp(topic, ts)
    for (const o of offsets.sort((a, b) => a.partition - b.partition)) {
      emit({ partition: o.partition, offset: Number(o.offset) })
    }
  })
}

async function cmdDescribeConfigs(kafka, opts) {
  const { ConfigResourceTypes } = kafkajs
  let resource
  if (opts.broker !== undefined) {
    resource = { type: ConfigResourceTypes.BROKER, name: String(opts.broker) }
  } else {
    resource = { type: ConfigResourceTypes.TOPIC, name: oneTopic(opts) }
  }
  if (opts.name) resource.configNames = opts.name
  await withAdmin(kafka, async admin => {
    const res = await admin.describeConfigs({ resources: [resource], includeSynonyms: false })
    for (const r of res.resources) {
      emit({
        resourceType: r.resourceType,
        resourceName: r.resourceName,
        errorCode: r.errorCode,
        errorMessage: r.errorMessage,
        configEntries: r.configEntries.map(e => ({
          name: e.configName,
          value: e.configValue,
          readOnly: e.readOnly,
          isDefault: e.isDefault,
          configSource: e.configSource,
          isSensitive: e.isSensitive,
        })),
      })
    }
  })
}

async function cmdAlterConfigs(kafka, opts) {
  const { ConfigResourceTypes } = kafkajs
  const topic = oneTopic(opts)
  const configEntries = requireOpt(opts, 'set').map(s => parseNameValue(s, 'set'))
  await withAdmin(kafka, async admin => {
    const res = await admin.alterConfigs({
      validateOnly: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries }],
    })
    for (const r of res.resources) {
      emit({ resourceType: r.resourceType, resourceName: r.resourceName, errorCode: r.errorCode, errorMessage: r.errorMessage })
    }
  })
}

const COMPRESSION = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
}

async function cmdProduce(kafka, opts) {
  const topic = oneTopic(opts)
  const codecName = (opts.compression || 'none').toLowerCase()
  if (!(codecName in COMPRESSION)) usageError(`unknown --compression ${codecName}`)
  if (!['none', 'gzip'].includes(codecName)) {
    // kafkajs 2.2.4 ships only gzip; the others need a codec package registered in
    // CompressionCodecs (kafkajs-snappy, kafkajs-lz4, @kafkajs/zstd).
    usageError(`kafkajs has no built-in ${codecName} codec (needs a plugin)`)
  }
  let records
  if (opts.input !== undefined) {
    records = readInputRecords(opts.input)
  } else if (opts.count !== undefined) {
    records = generateRecords(opts)
  } else {
    usageError('produce needs --input FILE|- or --count N')
  }
  const fixedPartition = intOpt(opts, 'partition', undefined)
  const batchSize = intOpt(opts, 'batch-size', records.length || 1)
  if (batchSize < 1) usageError('--batch-size must be >= 1')
  const acks = intOpt(opts, 'acks', -1)

  // kafkajs' default partitioner (Java-compatible murmur2 on keys) picks the partition
  // of every record without one; wrap it to learn its choice, so that per-partition
  // base offsets can be turned into per-record offsets.
  const chosen = new Map()
  const recordingPartitioner = () => {
    const inner = Partitioners.DefaultPartitioner()
    return args => {
      const p = inner(args)
      chosen.set(args.message, p)
      return p
    }
  }

  const messages = records.map((rec, i) => {
    const msg = {
      key: rec.key,
      value: rec.value,
      headers: headersToKafkajs(rec.headers, `record ${i}`),
    }
    if (rec.timestamp !== undefined && rec.timestamp !== null) msg.timestamp = String(rec.timestamp)
    if (fixedPartition !== undefined) msg.partition = fixedPartition
    else if (rec.partition !== undefined && rec.partition !== null) msg.partition = rec.partition
    return msg
  })

  const producer = kafka.producer({
    allowAutoTopicCreation: true,
    // --idempotent: InitProducerId + per-partition sequences (kafkajs needs acks=-1 and
    // retries > 0 for it); --max-in-flight: kafkajs' maxInFlightRequests
    idempotent: Boolean(opts.idempotent),
    maxInFlightRequests: intOpt(opts, 'max-in-flight', 1),
    createPartitioner: recordingPartitioner,
  })
  await producer.connect()
  try {
    for (let start = 0; start < messages.length; start += batchSize) {
      const chunk = messages.slice(start, start + batchSize)
      const result = await producer.send({
        topic,
        acks,
        compression: COMPRESSION[codecName],
        timeout: intOpt(opts, 'request-timeout-ms', 10000),
        messages: chunk,
      })
      const base = new Map()
      for (const r of result) {
        if (r.errorCode !== 0) throw new Error(`partition ${r.partition} errorCode ${r.errorCode}`)
        base.set(r.partition, Number(r.baseOffset))
      }
      const seen = new Map()
      chunk.forEach((msg, j) => {
        const partition = chosen.get(msg)
        if (partition === undefined) throw new Error(`kafkajs did not partition record ${start + j}`)
        const idx = seen.get(partition) || 0
        seen.set(partition, idx + 1)
        const b = base.get(partition)
        const rec = records[start + j]
        emit({
          topic,
          partition,
          // acks=0 gets no offsets back
          offset: b === undefined || b < 0 ? null : b + idx,
          timestamp: rec.timestamp === undefined ? null : rec.timestamp,
          ...recordJson({ key: rec.key, value: rec.value, headers: headersFromKafkajs(msg.headers) }),
        })
      })
    }
  } finally {
    await producer.disconnect().catch(() => {})
  }
}

async function cmdConsumeGroup(kafka, opts) {
  const topic = oneTopic(opts)
  const groupId = requireOpt(opts, 'group')
  const count = intOpt(opts, 'count', undefined)
  if (count === undefined) usageError('--count is required')
  const idleMs = intOpt(opts, 'idle-ms', 0)
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: intOpt(opts, 'session-timeout-ms', 10000),
    heartbeatInterval: 1000,
    maxWaitTimeInMs: 500,
    allowAutoTopicCreation: false,
    retry: { retries: intOpt(opts, 'retries', 2) },
  })
  let got = 0
  let finish
  const done = new Promise((resolve, reject) => {
    finish = { resolve, reject }
  })
  let idleTimer = null
  const armIdle = () => {
    if (!idleMs) return
    if (idleTimer) clearTimeout(idleTimer)
    idleTimer = setTimeout(
      () => finish.reject(new Error(`no record for ${idleMs} ms: got ${got} of ${count}`)),
      idleMs
    )
  }
  consumer.on(consumer.events.CRASH, ev => finish.reject(ev.payload.error))
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: !!opts['from-beginning'] })
    armIdle()
    await consumer.run({
      autoCommit: true,
      eachMessage: async ({ topic: t, partition, message }) => {
        if (got >= count) return
        got++
        armIdle()
        emit({
          topic: t,
          partition,
          offset: Number(message.offset),
          timestamp: Number(message.timestamp),
          key: b64(message.key),
          value: b64(message.value),
          headers: headersFromKafkajs(message.headers).map(([k, v]) => [b64(Buffer.from(k, 'utf8')), b64(v)]),
        })
        if (got >= count) finish.resolve()
      },
    })
    if (count === 0) finish.resolve()
    await done
  } finally {
    if (idleTimer) clearTimeout(idleTimer)
    await consumer.disconnect().catch(() => {})
  }
}

// A group member for compat/test_groups.py, speaking compat/group_clients.py's event
// protocol. Manual commits: every batch is committed (synchronously) before the next.
async function cmdGroupConsume(kafka, opts) {
  const topic = oneTopic(opts)
  const groupId = requireOpt(opts, 'group')
  const consumer = kafka.consumer({
    groupId,
    sessionTimeout: intOpt(opts, 'session-timeout-ms', 6000),
    heartbeatInterval: intOpt(opts, 'heartbeat-ms', 500),
    maxWaitTimeInMs: 200,
    allowAutoTopicCreation: false,
    retry: { retries: intOpt(opts, 'retries', 5) },
  })
  let assigned = []
  let stopping = false
  let stopped
  const stopRequested = new Promise(resolve => {
    stopped = resolve
  })
  const requestStop = () => {
    if (!stopping) {
      stopping = true
      stopped()
    }
  }
  let buffered = ''
  process.stdin.setEncoding('utf8')
  process.stdin.on('data', chunk => {
    buffered += chunk
    if (buffered.split('\n').some(l => l.trim() === 'stop')) requestStop()
  })
  process.stdin.on('end', requestStop)
  process.stdin.on('error', requestStop)

  const { GROUP_JOIN, REBALANCING, CRASH } = consumer.events
  consumer.on(GROUP_JOIN, ev => {
    const now = ((ev.payload.memberAssignment || {})[topic] || []).slice().sort((a, b) => a - b)
    const added = now.filter(p => !assigned.includes(p))
    assigned = now
    emit({ ev: 'assign', partitions: added, now, memberId: ev.payload.memberId })
  })
  consumer.on(REBALANCING, () => {
    const gone = assigned
    assigned = []
    emit({ ev: 'revoke', partitions: gone, now: [] })
  })
  consumer.on(CRASH, ev => emit({ ev: 'error', error: String(ev.payload.error), restart: ev.payload.restart }))

  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  emit({ ev: 'start', client: 'kafkajs', pid: process.pid })
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, isRunning, isStale }) => {
      let next = null
      for (const message of batch.messages) {
        if (!isRunning() || isStale() || stopping) break
        emit({ ev: 'rec', p: batch.partition, o: Number(message.offset), v: message.value.toString() })
        resolveOffset(message.offset)
        next = Number(message.offset) + 1
      }
      if (next === null) return
      const offsets = { [String(batch.partition)]: next }
      try {
        await consumer.commitOffsets([{ topic, partition: batch.partition, offset: String(next) }])
        emit({ ev: 'commit', offsets })
      } catch (e) {
        emit({ ev: 'commit_error', error: e.type || e.name || String(e), message: e.message, offsets })
        throw e
      }
    },
  })
  await stopRequested
  await consumer.disconnect()
  emit({ ev: 'closed' })
}

const COMMANDS = {
  metadata: cmdMetadata,
  'list-topics': cmdListTopics,
  'admin-create': cmdAdminCreate,
  'admin-delete': cmdAdminDelete,
  'admin-create-partitions': cmdCreatePartitions,
  offsets: cmdOffsets,
  'offsets-by-time': cmdOffsetsByTime,
  'describe-configs': cmdDescribeConfigs,
  'alter-configs': cmdAlterConfigs,
  produce: cmdProduce,
  'consume-group': cmdConsumeGroup,
  'group-consume': cmdGroupConsume,
}

async function main() {
  let parsed
  try {
    parsed = parseArgs(process.argv.slice(2))
  } catch (e) {
    return fail(e)
  }
  const { opts, positional } = parsed
  if (opts.help || positional.length === 0) {
    ;(opts.help ? process.stdout : process.stderr).write(USAGE)
    process.exit(opts.help ? 0 : 2)
  }
  const command = positional[0]
  const fn = COMMANDS[command]
  if (!fn || positional.length > 1) {
    return fail(new UsageError(`unknown command: ${positional.join(' ')}`))
  }
  const timeoutMs = intOptSafe(opts, 'timeout-ms', 60000)
  const timer = setTimeout(() => {
    process.stderr.write(JSON.stringify({ error: 'Timeout', message: `${command} did not finish within ${timeoutMs} ms` }) + '\n')
    process.exit(3)
  }, timeoutMs)
  try {
    await fn(makeKafka(opts), opts)
  } catch (e) {
    return fail(e)
  }
  clearTimeout(timer)
  // kafkajs may leave sockets or timers behind after disconnect; do not wait for them.
  process.exit(0)
}

function intOptSafe(opts, name, dflt) {
  try {
    return intOpt(opts, name, dflt)
  } catch (e) {
    return fail(e)
  }
}

// Writes to pipes and files are synchronous on Linux, so exiting right away loses nothing.
function fail(e) {
  process.stderr.write(JSON.stringify(errorJson(e)) + '\n')
  process.exit(e instanceof UsageError ? 2 : 1)
}

process.on('unhandledRejection', e => fail(e))

main()
