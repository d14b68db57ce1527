// Command sarama_driver is the Sarama (Go) compatibility driver for the gregor tests.
//
// One subcommand per run, talking to -bootstrap HOST:PORT. Results are JSON lines on
// stdout; Sarama's own log (with -verbose) and errors go to stderr. Bytes (keys, values,
// header keys and values) are base64 so the caller can compare them byte for byte; a
// JSON null is a null. Exit status: 0 ok, 1 Kafka/client error, 2 bad usage,
// 4 consume timed out before -count records arrived (the records that did arrive are
// still printed).
//
// Record input (produce -input FILE|-), one JSON object a line:
//
//	{"key": b64|null, "value": b64|null, "headers": [[key_b64, value_b64|null], ...],
//	 "partition": int (optional), "timestamp": ms (optional)}
//
// Built in GOPATH mode against Debian's Sarama 1.22.1:
//
//	GO111MODULE=off GOPATH=$PWD/go:/usr/share/gocode go build -o sarama_driver .
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"log"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

const usage = `usage: sarama_driver <command> -bootstrap HOST:PORT [options]

commands:
  metadata  [-topic T]                      brokers, controller and topic partitions
  create-topic -topic T [-partitions P] [-replication-factor R] [-config NAME=VALUE ...]
                                            ClusterAdmin.CreateTopic; {"created": false} if it existed
  offsets   -topic T                        per partition: oldest and newest (= next) offset
  produce   -topic T (-input FILE|- | -count N [-with-headers] [-null-values])
            [-partition P] [-partitioner manual|hash|random|roundrobin]
            [-compression none|gzip|snappy|lz4|zstd]
            SyncProducer.SendMessages; one line per record: partition, offset, content
  consume   -topic T [-partition P | -partitions all|0,1,..] [-offset oldest|newest|N]
            [-count N] [-timeout 30s] [-idle 0]
            sarama.NewConsumer partition consumers (no consumer group)
  group-consume -topic T -group G [-session-timeout 6s] [-heartbeat 500ms]
            [-commit-interval 200ms] [-offsets-retention 24h]
            a long-running ConsumerGroup member (needs -version >= 0.10.2.0) that runs
            until stdin reads "stop" or reaches EOF; JSON-line events as in
            compat/group_clients.py (start, assign, revoke, rec, error, closed).
            Offsets are marked per record and committed by Sarama's offset manager
            every -commit-interval and when a session ends (no per-commit events:
            Sarama 1.22 does not report them)

common options (after the command):
  -bootstrap HOST:PORT   broker(s), comma separated
  -version V             Kafka version Sarama assumes: "max" (default, ` + "%s" + `),
                         "default" (Sarama's own default, ` + "%s" + `) or e.g. 2.1.0, 0.11.0.0
  -client-id ID          default gregor-compat-sarama
  -verbose               Sarama's log to stderr
Run "sarama_driver <command> -h" for the command's flags.
`

// ------------------------------------------------------------------ output

var out = bufio.NewWriter(os.Stdout)
var outMu sync.Mutex

func emit(v interface{}) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	outMu.Lock()
	out.Write(b)
	out.WriteByte('\n')
	out.Flush()
	outMu.Unlock()
}

type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func usageErr(format string, a ...interface{}) error {
	return &exitError{2, fmt.Errorf(format, a...)}
}

func die(err error) {
	out.Flush()
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	name := fmt.Sprintf("%T", unwrapExit(err))
	if code == 2 {
		name = "UsageError"
	}
	obj := map[string]interface{}{"error": name, "message": err.Error()}
	var kerr sarama.KError
	if errors.As(err, &kerr) {
		obj["code"] = int(kerr)
	}
	var perrs sarama.ProducerErrors
	if errors.As(err, &perrs) && len(perrs) > 0 {
		list := []map[string]interface{}{}
		for i, pe := range perrs {
			if i >= 20 {
				break
			}
			item := map[string]interface{}{"partition": pe.Msg.Partition, "message": pe.Err.Error()}
			if k, ok := pe.Err.(sarama.KError); ok {
				item["code"] = int(k)
			}
			list = append(list, item)
		}
		obj["errors"] = list
		obj["message"] = fmt.Sprintf("%s; first: %v", err.Error(), perrs[0].Err)
		if k, ok := perrs[0].Err.(sarama.KError); ok {
			obj["code"] = int(k)
		}
	}
	b, _ := json.Marshal(obj)
	os.Stderr.Write(append(b, '\n'))
	os.Exit(code)
}

func unwrapExit(err error) error {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.err
	}
	return err
}

func b64(b []byte) *string {
	if b == nil {
		return nil
	}
	s := base64.StdEncoding.EncodeToString(b)
	return &s
}

func fromB64(s *string, what string) ([]byte, error) {
	if s == nil {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(*s)
	if err != nil {
		return nil, usageErr("%s: %v", what, err)
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

type recordOut struct {
	Topic     string       `json:"topic"`
	Partition int32        `json:"partition"`
	Offset    int64        `json:"offset"`
	Timestamp *int64       `json:"timestamp"`
	Key       *string      `json:"key"`
	Value     *string      `json:"value"`
	Headers   [][2]*string `json:"headers"`
}

func headersOut(hs []sarama.RecordHeader) [][2]*string {
	res := make([][2]*string, 0, len(hs))
	for _, h := range hs {
		res = append(res, [2]*string{b64(h.Key), b64(h.Value)})
	}
	return res
}

func millis(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	ms := t.UnixNano() / int64(time.Millisecond)
	return &ms
}

// ------------------------------------------------------------------ config

type common struct {
	fs        *flag.FlagSet
	bootstrap string
	version   string
	clientID  string
	verbose   bool
}

func newCommon(name string) *common {
	c := &common{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	c.fs.SetOutput(os.Stderr)
	c.fs.StringVar(&c.bootstrap, "bootstrap", "", "broker(s) HOST:PORT, comma separated")
	c.fs.StringVar(&c.version, "version", "max", `Kafka version Sarama assumes: "max", "default" or e.g. 2.1.0`)
	c.fs.StringVar(&c.clientID, "client-id", "gregor-compat-sarama", "client id")
	c.fs.BoolVar(&c.verbose, "verbose", false, "Sarama log to stderr")
	return c
}

func (c *common) parse(args []string) error {
	if err := c.fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			os.Exit(0)
		}
		return usageErr("%v", err)
	}
	if c.fs.NArg() > 0 {
		return usageErr("unexpected arguments: %v", c.fs.Args())
	}
	if c.bootstrap == "" {
		return usageErr("-bootstrap HOST:PORT is required")
	}
	if c.verbose {
		sarama.Logger = log.New(os.Stderr, "[sarama] ", log.LstdFlags|log.Lmicroseconds)
	}
	return nil
}

func (c *common) brokers() []string {
	var res []string
	for _, b := range strings.Split(c.bootstrap, ",") {
		if b = strings.TrimSpace(b); b != "" {
			res = append(res, b)
		}
	}
	return res
}

func parseVersion(s string) (sarama.KafkaVersion, error) {
	switch strings.ToLower(s) {
	case "max", "":
		return sarama.MaxVersion, nil
	case "default", "min":
		return sarama.NewConfig().Version, nil
	}
	v, err := sarama.ParseKafkaVersion(s)
	if err != nil {
		return v, usageErr("-version: %v", err)
	}
	return v, nil
}

func (c *common) config() (*sarama.Config, error) {
	cfg := sarama.NewConfig()
	v, err := parseVersion(c.version)
	if err != nil {
		return nil, err
	}
	cfg.Version = v
	cfg.ClientID = c.clientID
	cfg.Net.DialTimeout = 5 * time.Second
	cfg.Net.ReadTimeout = 10 * time.Second
	cfg.Net.WriteTimeout = 10 * time.Second
	cfg.Metadata.Retry.Max = 3
	cfg.Metadata.Retry.Backoff = 200 * time.Millisecond
	return cfg, nil
}

// ------------------------------------------------------------------ metadata

func cmdMetadata(args []string) error {
	c := newCommon("metadata")
	topic := c.fs.String("topic", "", "topic to describe (may auto-create it); default all topics")
	if err := c.parse(args); err != nil {
		return err
	}
	cfg, err := c.config()
	if err != nil {
		return err
	}
	client, err := sarama.NewClient(c.brokers(), cfg)
	if err != nil {
		return err
	}
	defer client.Close()
	if *topic != "" {
		if err := client.RefreshMetadata(*topic); err != nil {
			return err
		}
	}

	type brokerOut struct {
		ID   int32  `json:"id"`
		Addr string `json:"addr"`
	}
	brokers := []brokerOut{}
	for _, b := range client.Brokers() {
		brokers = append(brokers, brokerOut{b.ID(), b.Addr()})
	}
	sort.Slice(brokers, func(i, j int) bool { return brokers[i].ID < brokers[j].ID })
	cluster := map[string]interface{}{"type": "cluster", "brokers": brokers, "controller": nil}
	if cfg.Version.IsAtLeast(sarama.V0_10_0_0) {
		// Reported, not fatal: the caller decides whether a missing controller matters.
		if ctrl, err := client.Controller(); err != nil {
			cluster["controller_error"] = err.Error()
		} else {
			cluster["controller"] = ctrl.ID()
		}
	}
	emit(cluster)

	topics := []string{*topic}
	if *topic == "" {
		if topics, err = client.Topics(); err != nil {
			return err
		}
		sort.Strings(topics)
	}
	type partOut struct {
		Partition int32   `json:"partition"`
		Leader    int32   `json:"leader"`
		Replicas  []int32 `json:"replicas"`
		ISR       []int32 `json:"isr"`
	}
	for _, t := range topics {
		parts, err := client.Partitions(t)
		if err != nil {
			return fmt.Errorf("topic %s: %w", t, err)
		}
		list := []partOut{}
		for _, p := range parts {
			po := partOut{Partition: p, Leader: -1}
			if l, err := client.Leader(t, p); err == nil {
				po.Leader = l.ID()
			}
			po.Replicas, _ = client.Replicas(t, p)
			po.ISR, _ = client.InSyncReplicas(t, p)
			list = append(list, po)
		}
		sort.Slice(list, func(i, j int) bool { return list[i].Partition < list[j].Partition })
		emit(map[string]interface{}{"type": "topic", "name": t, "partitions": list})
	}
	return nil
}

// ------------------------------------------------------------------ create-topic

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func cmdCreateTopic(args []string) error {
	c := newCommon("create-topic")
	topic := c.fs.String("topic", "", "topic")
	partitions := c.fs.Int("partitions", 1, "number of partitions")
	rf := c.fs.Int("replication-factor", 1, "replication factor")
	var configs multiFlag
	c.fs.Var(&configs, "config", "NAME=VALUE topic config (repeatable)")
	if err := c.parse(args); err != nil {
		return err
	}
	if *topic == "" {
		return usageErr("-topic is required")
	}
	cfg, err := c.config()
	if err != nil {
		return err
	}
	cfg.Admin.Timeout = 10 * time.Second
	detail := &sarama.TopicDetail{
		NumPartitions:     int32(*partitions),
		ReplicationFactor: int16(*rf),
		ConfigEntries:     map[string]*string{},
	}
	for _, kv := range configs {
		i := strings.Index(kv, "=")
		if i <= 0 {
			return usageErr("-config expects NAME=VALUE, got %q", kv)
		}
		v := kv[i+1:]
		detail.ConfigEntries[kv[:i]] = &v
	}
	admin, err := sarama.NewClusterAdmin(c.brokers(), cfg)
	if err != nil {
		return err
	}
	defer admin.Close()
	created := true
	if err := admin.CreateTopic(*topic, detail, false); err != nil {
		var te *sarama.TopicError
		if errors.As(err, &te) && te.Err == sarama.ErrTopicAlreadyExists {
			created = false
		} else {
			if errors.As(err, &te) {
				return &codedError{te, te.Err}
			}
			return err
		}
	}
	emit(map[string]interface{}{"topic": *topic, "created": created})
	return nil
}

// codedError carries a Kafka error code for die() to report.
type codedError struct {
	err  error
	code sarama.KError
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.code }

// ------------------------------------------------------------------ offsets

func cmdOffsets(args []string) error {
	c := newCommon("offsets")
	topic := c.fs.String("topic", "", "topic")
	if err := c.parse(args); err != nil {
		return err
	}
	if *topic == "" {
		return usageErr("-topic is required")
	}
	cfg, err := c.config()
	if err != nil {
		return err
	}
	client, err := sarama.NewClient(c.brokers(), cfg)
	if err != nil {
		return err
	}
	defer client.Close()
	parts, err := client.Partitions(*topic)
	if err != nil {
		return err
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	for _, p := range parts {
		oldest, err := client.GetOffset(*topic, p, sarama.OffsetOldest)
		if err != nil {
			return fmt.Errorf("partition %d oldest: %w", p, err)
		}
		newest, err := client.GetOffset(*topic, p, sarama.OffsetNewest)
		if err != nil {
			return fmt.Errorf("partition %d newest: %w", p, err)
		}
		emit(map[string]interface{}{"partition": p, "oldest": oldest, "newest": newest})
	}
	return nil
}

// ------------------------------------------------------------------ produce

type recordIn struct {
	Key       *string      `json:"key"`
	Value     *string      `json:"value"`
	Headers   [][2]*string `json:"headers"`
	Partition *int32       `json:"partition"`
	Timestamp *int64       `json:"timestamp"`
}

func readRecords(path string) ([]recordIn, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, usageErr("%v", err)
		}
		defer f.Close()
		r = f
	}
	data, err := ioutil.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var recs []recordIn
	for n, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var rec recordIn
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			return nil, usageErr("input line %d: %v", n+1, err)
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// generate makes the same deterministic records as the kafkajs driver's --count.
func generate(count int, withHeaders, nullValues bool) []recordIn {
	enc := func(b []byte) *string { return b64(b) }
	recs := make([]recordIn, 0, count)
	for i := 0; i < count; i++ {
		rec := recordIn{Key: enc([]byte(fmt.Sprintf("key-%d", i)))}
		if !(nullValues && i%5 == 4) {
			rec.Value = enc(append([]byte(fmt.Sprintf("value-%d-", i)), 0, 0xff, byte(i%256)))
		}
		if withHeaders {
			rec.Headers = [][2]*string{
				{enc([]byte("h-index")), enc([]byte(strconv.Itoa(i)))},
				{enc([]byte("h-bin")), enc([]byte{0x00, 0xfe, byte(i % 256)})},
			}
		}
		recs = append(recs, rec)
	}
	return recs
}

var codecs = map[string]sarama.CompressionCodec{
	"none":   sarama.CompressionNone,
	"gzip":   sarama.CompressionGZIP,
	"snappy": sarama.CompressionSnappy,
	"lz4":    sarama.CompressionLZ4,
	"zstd":   sarama.CompressionZSTD,
}

func cmdProduce(args []string) error {
	c := newCommon("produce")
	topic := c.fs.String("topic", "", "topic")
	input := c.fs.String("input", "", "JSON-lines records from FILE or - (stdin)")
	count := c.fs.Int("count", -1, "generate N deterministic records instead of -input")
	withHeaders := c.fs.Bool("with-headers", false, "with -count: add two headers per record")
	nullValues := c.fs.Bool("null-values", false, "with -count: every 5th value is null")
	partition := c.fs.Int("partition", -1, "send every record to this partition (manual partitioner)")
	partitioner := c.fs.String("partitioner", "", "manual|hash|random|roundrobin; default manual if -partition or the records name partitions, else hash")
	compression := c.fs.String("compression", "none", "none|gzip|snappy|lz4|zstd")
	level := c.fs.Int("compression-level", sarama.CompressionLevelDefault, "codec level")
	acks := c.fs.Int("acks", -1, "-1 (all), 1 or 0 (0 = no offsets reported)")
	maxOpen := c.fs.Int("max-open-requests", 1, "Net.MaxOpenRequests (1 keeps order strict)")
	flushMessages := c.fs.Int("flush-messages", 0, "at most N records per batch (Producer.Flush.Messages and MaxMessages; 0 = whatever accumulates)")
	retries := c.fs.Int("retries", 0, "Producer.Retry.Max (0 so errors surface, not retried)")
	idempotent := c.fs.Bool("idempotent", false, "Producer.Idempotent (needs -version >= 0.11.0.0, -acks -1, -max-open-requests 1, -retries >= 1)")
	retryBackoff := c.fs.Duration("retry-backoff", 200*time.Millisecond, "Producer.Retry.Backoff")
	if err := c.parse(args); err != nil {
		return err
	}
	if *topic == "" {
		return usageErr("-topic is required")
	}
	codec, ok := codecs[strings.ToLower(*compression)]
	if !ok {
		return usageErr("unknown -compression %q", *compression)
	}
	var recs []recordIn
	var err error
	switch {
	case *input != "" && *count >= 0:
		return usageErr("-input and -count are exclusive")
	case *input != "":
		if recs, err = readRecords(*input); err != nil {
			return err
		}
	case *count >= 0:
		recs = generate(*count, *withHeaders, *nullValues)
	default:
		return usageErr("produce needs -input FILE|- or -count N")
	}

	cfg, err := c.config()
	if err != nil {
		return err
	}
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.RequiredAcks = sarama.RequiredAcks(*acks)
	cfg.Producer.Compression = codec
	cfg.Producer.CompressionLevel = *level
	cfg.Producer.Retry.Max = *retries
	cfg.Producer.Retry.Backoff = *retryBackoff
	cfg.Producer.Timeout = 10 * time.Second
	cfg.Producer.Idempotent = *idempotent
	if *flushMessages > 0 {
		cfg.Producer.Flush.Messages = *flushMessages
		cfg.Producer.Flush.MaxMessages = *flushMessages
		// Without a frequency a final batch smaller than Flush.Messages is never sent.
		cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	}
	cfg.Net.MaxOpenRequests = *maxOpen

	named := *partition >= 0
	for _, r := range recs {
		if r.Partition != nil {
			named = true
		}
	}
	part := *partitioner
	if part == "" {
		if named {
			part = "manual"
		} else {
			part = "hash"
		}
	}
	switch part {
	case "manual":
		cfg.Producer.Partitioner = sarama.NewManualPartitioner
	case "hash":
		cfg.Producer.Partitioner = sarama.NewHashPartitioner
	case "random":
		cfg.Producer.Partitioner = sarama.NewRandomPartitioner
	case "roundrobin":
		cfg.Producer.Partitioner = sarama.NewRoundRobinPartitioner
	default:
		return usageErr("unknown -partitioner %q", part)
	}

	msgs := make([]*sarama.ProducerMessage, 0, len(recs))
	for i, r := range recs {
		m := &sarama.ProducerMessage{Topic: *topic}
		key, err := fromB64(r.Key, fmt.Sprintf("record %d key", i))
		if err != nil {
			return err
		}
		if key != nil {
			m.Key = sarama.ByteEncoder(key)
		}
		val, err := fromB64(r.Value, fmt.Sprintf("record %d value", i))
		if err != nil {
			return err
		}
		if val != nil {
			m.Value = sarama.ByteEncoder(val)
		}
		if len(r.Headers) > 0 && !cfg.Version.IsAtLeast(sarama.V0_11_0_0) {
			// Sarama would silently drop them (message sets have no headers).
			return usageErr("record %d: headers need -version >= 0.11.0.0 (Sarama drops them below)", i)
		}
		for j, h := range r.Headers {
			hk, err := fromB64(h[0], fmt.Sprintf("record %d header %d key", i, j))
			if err != nil {
				return err
			}
			hv, err := fromB64(h[1], fmt.Sprintf("record %d header %d value", i, j))
			if err != nil {
				return err
			}
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: hk, Value: hv})
		}
		if *partition >= 0 {
			m.Partition = int32(*partition)
		} else if r.Partition != nil {
			m.Partition = *r.Partition
		}
		if r.Timestamp != nil {
			m.Timestamp = time.Unix(0, *r.Timestamp*int64(time.Millisecond))
		}
		msgs = append(msgs, m)
	}

	producer, err := sarama.NewSyncProducer(c.brokers(), cfg)
	if err != nil {
		return err
	}
	defer producer.Close()
	if len(msgs) > 0 {
		if err := producer.SendMessages(msgs); err != nil {
			return err
		}
	}
	for i, m := range msgs {
		r := recs[i]
		o := recordOut{
			Topic:     *topic,
			Partition: m.Partition,
			Offset:    m.Offset,
			Timestamp: r.Timestamp,
			Key:       r.Key,
			Value:     r.Value,
			Headers:   r.Headers,
		}
		if o.Headers == nil {
			o.Headers = [][2]*string{}
		}
		emit(o)
	}
	return nil
}

// ------------------------------------------------------------------ consume

func cmdConsume(args []string) error {
	c := newCommon("consume")
	topic := c.fs.String("topic", "", "topic")
	partition := c.fs.Int("partition", 0, "partition to read")
	partitions := c.fs.String("partitions", "", `"all" or a comma-separated list; overrides -partition`)
	offsetArg := c.fs.String("offset", "oldest", "oldest|newest|N: where every partition starts")
	count := c.fs.Int("count", -1, "stop after N records in total (-1: until -timeout/-idle)")
	timeout := c.fs.Duration("timeout", 30*time.Second, "give up after this long (exit 4 if -count not reached)")
	idle := c.fs.Duration("idle", 0, "stop when no record arrived for this long (0 = off)")
	maxWait := c.fs.Duration("max-wait", 250*time.Millisecond, "Consumer.MaxWaitTime (fetch max wait)")
	tolerate := c.fs.Bool("tolerate-errors", false, "log consumer errors and go on instead of failing")
	if err := c.parse(args); err != nil {
		return err
	}
	if *topic == "" {
		return usageErr("-topic is required")
	}
	var start int64
	switch strings.ToLower(*offsetArg) {
	case "oldest":
		start = sarama.OffsetOldest
	case "newest":
		start = sarama.OffsetNewest
	default:
		n, err := strconv.ParseInt(*offsetArg, 10, 64)
		if err != nil || n < 0 {
			return usageErr("-offset must be oldest, newest or N >= 0")
		}
		start = n
	}
	cfg, err := c.config()
	if err != nil {
		return err
	}
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.MaxWaitTime = *maxWait
	cfg.Consumer.Retry.Backoff = 200 * time.Millisecond

	consumer, err := sarama.NewConsumer(c.brokers(), cfg)
	if err != nil {
		return err
	}
	defer consumer.Close()

	var parts []int32
	switch {
	case *partitions == "all":
		if parts, err = consumer.Partitions(*topic); err != nil {
			return err
		}
	case *partitions != "":
		for _, s := range strings.Split(*partitions, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return usageErr("-partitions: %v", err)
			}
			parts = append(parts, int32(n))
		}
	default:
		parts = []int32{int32(*partition)}
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })

	type item struct {
		msg *sarama.ConsumerMessage
		err error
	}
	items := make(chan item)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var pcs []sarama.PartitionConsumer
	for _, p := range parts {
		pc, err := consumer.ConsumePartition(*topic, p, start)
		if err != nil {
			close(stop)
			for _, q := range pcs {
				q.AsyncClose()
			}
			return fmt.Errorf("partition %d: %w", p, err)
		}
		pcs = append(pcs, pc)
		wg.Add(1)
		// One reader per partition keeps each partition's records in order.
		go func(pc sarama.PartitionConsumer) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case m, ok := <-pc.Messages():
					if !ok {
						return
					}
					select {
					case items <- item{msg: m}:
					case <-stop:
						return
					}
				case e, ok := <-pc.Errors():
					if !ok {
						continue
					}
					select {
					case items <- item{err: e}:
					case <-stop:
						return
					}
				}
			}
		}(pc)
	}
	defer func() {
		close(stop)
		for _, pc := range pcs {
			pc.AsyncClose()
		}
		wg.Wait()
	}()

	deadline := time.NewTimer(*timeout)
	defer deadline.Stop()
	var idleC <-chan time.Time
	var idleT *time.Timer
	if *idle > 0 {
		idleT = time.NewTimer(*idle)
		defer idleT.Stop()
		idleC = idleT.C
	}
	got := 0
	for *count < 0 || got < *count {
		select {
		case it := <-items:
			if it.err != nil {
				b, _ := json.Marshal(map[string]interface{}{"consumer_error": it.err.Error()})
				os.Stderr.Write(append(b, '\n'))
				if !*tolerate {
					return it.err
				}
				continue
			}
			m := it.msg
			hs := make([]sarama.RecordHeader, 0, len(m.Headers))
			for _, h := range m.Headers {
				hs = append(hs, *h)
			}
			emit(recordOut{
				Topic:     m.Topic,
				Partition: m.Partition,
				Offset:    m.Offset,
				Timestamp: millis(m.Timestamp),
				Key:       b64(m.Key),
				Value:     b64(m.Value),
				Headers:   headersOut(hs),
			})
			got++
			if idleT != nil {
				if !idleT.Stop() {
					select {
					case <-idleT.C:
					default:
					}
				}
				idleT.Reset(*idle)
			}
		case <-idleC:
			return finishEarly(*count, got, fmt.Sprintf("idle for %s", *idle))
		case <-deadline.C:
			return finishEarly(*count, got, fmt.Sprintf("timeout after %s", *timeout))
		}
	}
	return nil
}

func finishEarly(count, got int, why string) error {
	if count < 0 {
		return nil
	}
	return &exitError{4, fmt.Errorf("%s: got %d of %d records", why, got, count)}
}

// ------------------------------------------------------------------ group-consume

type groupHandler struct {
	topic string
	mu    sync.Mutex
	now   []int32
}

func (h *groupHandler) Setup(s sarama.ConsumerGroupSession) error {
	parts := append([]int32{}, s.Claims()[h.topic]...)
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	h.mu.Lock()
	h.now = parts
	h.mu.Unlock()
	emit(map[string]interface{}{"ev": "assign", "partitions": parts, "now": parts,
		"memberId": s.MemberID(), "generation": s.GenerationID()})
	return nil
}

func (h *groupHandler) Cleanup(s sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	gone := h.now
	h.now = []int32{}
	h.mu.Unlock()
	emit(map[string]interface{}{"ev": "revoke", "partitions": gone, "now": []int32{},
		"generation": s.GenerationID()})
	return nil
}

func (h *groupHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		emit(map[string]interface{}{"ev": "rec", "p": m.Partition, "o": m.Offset, "v": string(m.Value)})
		s.MarkMessage(m, "")
	}
	return nil
}

func cmdGroupConsume(args []string) error {
	c := newCommon("group-consume")
	topic := c.fs.String("topic", "", "topic")
	group := c.fs.String("group", "", "consumer group id")
	session := c.fs.Duration("session-timeout", 6*time.Second, "Consumer.Group.Session.Timeout")
	heartbeat := c.fs.Duration("heartbeat", 500*time.Millisecond, "Consumer.Group.Heartbeat.Interval")
	commitEvery := c.fs.Duration("commit-interval", 200*time.Millisecond, "Consumer.Offsets.CommitInterval")
	// Sarama 1.22 sends OffsetCommit v1 when Consumer.Offsets.Retention is 0 (its
	// default) and v2 otherwise. gregor, like Kafka 4.0 (KIP-896), serves v2+ only and
	// closes the connection on v1, so the default never commits anything.
	retention := c.fs.Duration("offsets-retention", 24*time.Hour, "Consumer.Offsets.Retention (0 = Sarama's default: OffsetCommit v1)")
	if err := c.parse(args); err != nil {
		return err
	}
	if *topic == "" || *group == "" {
		return usageErr("-topic and -group are required")
	}
	cfg, err := c.config()
	if err != nil {
		return err
	}
	if !cfg.Version.IsAtLeast(sarama.V0_10_2_0) {
		return usageErr("ConsumerGroup needs -version >= 0.10.2.0")
	}
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.CommitInterval = *commitEvery
	cfg.Consumer.Offsets.Retention = *retention
	cfg.Consumer.MaxWaitTime = 200 * time.Millisecond
	cfg.Consumer.Group.Session.Timeout = *session
	cfg.Consumer.Group.Heartbeat.Interval = *heartbeat
	cfg.Consumer.Group.Rebalance.Retry.Backoff = 200 * time.Millisecond
	cfg.Consumer.Group.Rebalance.Retry.Max = 20

	cg, err := sarama.NewConsumerGroup(c.brokers(), *group, cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "stop" {
				break
			}
		}
		cancel()
	}()
	go func() {
		for e := range cg.Errors() {
			emit(map[string]interface{}{"ev": "error", "error": e.Error()})
		}
	}()
	emit(map[string]interface{}{"ev": "start", "client": "sarama", "pid": os.Getpid()})
	h := &groupHandler{topic: *topic}
	for ctx.Err() == nil {
		// Consume returns at the end of every session (a rebalance); join again.
		if err := cg.Consume(ctx, []string{*topic}, h); err != nil {
			emit(map[string]interface{}{"ev": "error", "error": err.Error()})
			if err == sarama.ErrClosedConsumerGroup {
				return err
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	if err := cg.Close(); err != nil {
		return err
	}
	emit(map[string]interface{}{"ev": "closed"})
	return nil
}

// ------------------------------------------------------------------ main

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		w := os.Stderr
		code := 2
		if len(os.Args) >= 2 {
			w, code = os.Stdout, 0
		}
		fmt.Fprintf(w, usage, sarama.MaxVersion, sarama.NewConfig().Version)
		os.Exit(code)
	}
	cmds := map[string]func([]string) error{
		"metadata":      cmdMetadata,
		"offsets":       cmdOffsets,
		"create-topic":  cmdCreateTopic,
		"produce":       cmdProduce,
		"consume":       cmdConsume,
		"group-consume": cmdGroupConsume,
	}
	fn, ok := cmds[os.Args[1]]
	if !ok {
		die(usageErr("unknown command %q (metadata, create-topic, offsets, produce, consume, group-consume)", os.Args[1]))
	}
	if err := fn(os.Args[2:]); err != nil {
		die(err)
	}
	out.Flush()
}
