// telegraf-view: what the real Telegraf reads from a telegraf.conf, as JSON. It loads the file
// with Telegraf's own config package (environment substitution, TOML, plugin options: the code
// `telegraf` itself runs) and prints the options of the plugins polysource writes, so the tests
// can compare them with the inventory: a `$` in a topic must reach Telegraf as a `$`.
//
// Usage: telegraf-view telegraf.conf   (environment: the variables Telegraf would have)
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"unsafe"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/models"
	"github.com/influxdata/telegraf/plugins/inputs"
	_ "github.com/influxdata/telegraf/plugins/inputs/cpu"
	_ "github.com/influxdata/telegraf/plugins/inputs/disk"
	_ "github.com/influxdata/telegraf/plugins/inputs/mem"
	"github.com/influxdata/telegraf/plugins/inputs/mqtt_consumer"
	_ "github.com/influxdata/telegraf/plugins/inputs/multifile"
	_ "github.com/influxdata/telegraf/plugins/inputs/temp"
	_ "github.com/influxdata/telegraf/plugins/outputs/health"
	"github.com/influxdata/telegraf/plugins/outputs/influxdb"
	_ "github.com/influxdata/telegraf/plugins/outputs/influxdb_v2"
	"github.com/influxdata/telegraf/plugins/parsers/json_v2"
	_ "github.com/influxdata/telegraf/plugins/processors/starlark"
)

// internalStandIn takes inputs.internal's options: Go refuses the import of a package named
// internal from another module, and this view does not need that plugin's own code.
type internalStandIn struct {
	CollectMemstats bool `toml:"collect_memstats"`
	CollectGostats  bool `toml:"collect_gostats"`
}

func (*internalStandIn) SampleConfig() string              { return "" }
func (*internalStandIn) Gather(telegraf.Accumulator) error { return nil }

func init() {
	inputs.Add("internal", func() telegraf.Input { return &internalStandIn{} })
}

type consumer struct {
	Alias    string           `json:"alias"`
	Servers  []string         `json:"servers"`
	Topics   []string         `json:"topics"`
	ClientID string           `json:"client_id"`
	Username string           `json:"username"`
	JSONv2   []json_v2.Config `json:"json_v2"`
}

type output struct {
	Database string `json:"database"`
	Username string `json:"username"`
}

// parserOf reads the consumer's parser, which Telegraf keeps in an unexported field.
func parserOf(m *mqtt_consumer.MQTTConsumer) telegraf.Parser {
	field := reflect.ValueOf(m).Elem().FieldByName("parser")
	value := reflect.NewAt(field.Type(), unsafe.Pointer(field.UnsafeAddr())).Elem().Interface()
	parser, _ := value.(telegraf.Parser)
	return parser
}

func secret(s config.Secret) string {
	if s.Empty() {
		return ""
	}
	buf, err := s.Get()
	if err != nil {
		return "<" + err.Error() + ">"
	}
	defer buf.Destroy()
	return buf.String()
}

func main() {
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	c := config.NewConfig()
	if err := c.LoadConfigData(data, os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	view := struct {
		Consumers []consumer `json:"consumers"`
		Outputs   []output   `json:"influxdb"`
	}{}
	for _, input := range c.Inputs {
		m, ok := input.Input.(*mqtt_consumer.MQTTConsumer)
		if !ok {
			continue
		}
		entry := consumer{Alias: input.Config.Alias, Servers: m.Servers, Topics: m.Topics, ClientID: m.ClientID}
		entry.Username = secret(m.Username)
		if running, ok := parserOf(m).(*models.RunningParser); ok {
			if parser, ok := running.Parser.(*json_v2.Parser); ok {
				entry.JSONv2 = parser.Configs
			}
		}
		view.Consumers = append(view.Consumers, entry)
	}
	for _, out := range c.Outputs {
		if o, ok := out.Output.(*influxdb.InfluxDB); ok {
			view.Outputs = append(view.Outputs, output{Database: o.Database, Username: secret(o.Username)})
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(view); err != nil {
		os.Exit(2)
	}
}
