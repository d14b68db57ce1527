#!/usr/bin/env node
// What kafkajs does while capture.py records it (see capture-all.sh):
//   NODE_PATH=compat/node/node_modules node kafkajs.js BOOTSTRAP
// Admin calls, a producer (no compression and gzip: the only codec built into
// kafkajs), a consumer in a group, and the group admin calls. A refused step is
// reported on stderr and skipped.
'use strict'

const { Kafka, logLevel, CompressionTypes, Partitioners } = require('kafkajs')

const bootstrap = process.argv[2]
if (!bootstrap) {
  process.stderr.write('usage: kafkajs.js BOOTSTRAP\n')
  process.exit(2)
}
const kafka = new Kafka({ clientId: 'golden-kafkajs', brokers: [bootstrap], logLevel: logLevel.NOTHING })
const topic = 'kjs-topic'
const group = 'kjs-group'

async function step (name, fn) {
  try {
    await fn()
    process.stderr.write(`  ok   ${name}\n`)
  } catch (e) {
    process.stderr.write(`  FAIL ${name}: ${e.name}: ${e.message}\n`)
  }
}

async function main () {
  const admin = kafka.admin()
  await admin.connect()
  await step('createTopics', () => admin.createTopics({
    topics: [{ topic, numPartitions: 2, replicationFactor: 1, configEntries: [{ name: 'retention.ms', value: '3600000' }] }]
  }))
  await step('describeConfigs', () => admin.describeConfigs({ resources: [{ type: 2, name: topic }], includeSynonyms: false }))
  await step('alterConfigs', () => admin.alterConfigs({
    resources: [{ type: 2, name: topic, configEntries: [{ name: 'retention.ms', value: '7200000' }] }]
  }))
  await step('createPartitions', () => admin.createPartitions({ topicPartitions: [{ topic, count: 3 }] }))
  await step('describeCluster', () => admin.describeCluster())

  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  for (const compression of [CompressionTypes.None, CompressionTypes.GZIP]) {
    await step(`produce ${compression}`, () => producer.send({
      topic,
      compression,
      messages: [0, 1, 2, 3, 4, 5].map(i => ({ key: `k${i}`, value: `value-${i}`, partition: i % 3, headers: { h: 'v' } }))
    }))
  }
  await producer.disconnect()
  await step('fetchTopicOffsets', () => admin.fetchTopicOffsets(topic))
  await step('fetchTopicOffsetsByTimestamp', () => admin.fetchTopicOffsetsByTimestamp(topic, Date.now() - 60000))

  await step('consume in a group', async () => {
    const consumer = kafka.consumer({ groupId: group, sessionTimeout: 10000, heartbeatInterval: 1000 })
    await consumer.connect()
    await consumer.subscribe({ topic, fromBeginning: true })
    let seen = 0
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, 15000)
      consumer.run({
        autoCommit: false,
        eachMessage: async ({ topic: t, partition, message }) => {
          await consumer.commitOffsets([{ topic: t, partition, offset: (BigInt(message.offset) + 1n).toString() }])
          if (++seen >= 12) { clearTimeout(timer); resolve() }
        }
      })
    })
    await consumer.disconnect()
  })
  await step('listGroups', () => admin.listGroups())
  await step('describeGroups', () => admin.describeGroups([group]))
  await step('fetchOffsets', () => admin.fetchOffsets({ groupId: group, topics: [topic] }))
  await step('deleteGroups', () => admin.deleteGroups([group]))
  await step('deleteTopics', () => admin.deleteTopics({ topics: [topic] }))
  await admin.disconnect()
}

main().catch((e) => { process.stderr.write(`${e.stack}\n`); process.exit(1) })
