package container

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Labels on every per-container series. Empty values (a container outside
// Compose or Swarm) are absent in Prometheus' data model.
var containerLabels = []string{"name", "id", "image", "compose_project", "compose_service", "swarm_service", "swarm_stack", "swarm_task_slot"}

// family is a per-container metric family. Its label names are
// containerLabels, then the container_label_* of the gather (when
// configured), then its own extra labels.
type family struct {
	name, help string
	extra      []string
	base       *prometheus.Desc // without container_label_*
}

func desc(name, help string, extra ...string) *family {
	return &family{name: name, help: help, extra: extra,
		base: prometheus.NewDesc(name, help, append(append([]string{}, containerLabels...), extra...), nil)}
}

// labelSet is the container_label_* label names of one gather: every
// series of a family must have the same label names, so every container
// gets all of them, empty where it lacks the Docker label (as cAdvisor does).
type labelSet struct {
	keys  []string // Docker label keys, sorted
	names []string // container_label_<sanitized key>
	descs map[*family]*prometheus.Desc
}

func newLabelSet(keys []string) *labelSet {
	s := &labelSet{keys: keys, descs: map[*family]*prometheus.Desc{}}
	for _, k := range keys {
		s.names = append(s.names, "container_label_"+sanitizeLabel(k))
	}
	return s
}

// series is one container's label values for a gather.
type series struct {
	values []string // containerLabels, then the label set's values
	set    *labelSet
}

func (s *labelSet) series(base []string, docker map[string]string) series {
	if s == nil || len(s.keys) == 0 {
		return series{values: base}
	}
	v := append(base[:len(base):len(base)], make([]string, len(s.keys))...)
	for i, k := range s.keys {
		v[len(base)+i] = docker[k]
	}
	return series{values: v, set: s}
}

func (l series) desc(f *family) *prometheus.Desc {
	if l.set == nil || len(l.set.keys) == 0 {
		return f.base
	}
	d, ok := l.set.descs[f]
	if !ok {
		names := append(append(append([]string{}, containerLabels...), l.set.names...), f.extra...)
		d = prometheus.NewDesc(f.name, f.help, names, nil)
		l.set.descs[f] = d
	}
	return d
}

// sanitizeLabel turns a Docker label key into a Prometheus label name
// suffix the way cAdvisor does: every character outside [a-zA-Z0-9_] becomes _.
func sanitizeLabel(k string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, k)
}

// cAdvisor's names, types and units where the quantity is the same.
var (
	cpuUsage          = desc("container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.")
	cpuUser           = desc("container_cpu_user_seconds_total", "Cumulative user cpu time consumed in seconds.")
	cpuSystem         = desc("container_cpu_system_seconds_total", "Cumulative system cpu time consumed in seconds.")
	cpuPeriods        = desc("container_cpu_cfs_periods_total", "Number of elapsed enforcement period intervals.")
	cpuThrottled      = desc("container_cpu_cfs_throttled_periods_total", "Number of throttled period intervals.")
	cpuThrottledTime  = desc("container_cpu_cfs_throttled_seconds_total", "Total time duration the container has been throttled.")
	memUsage          = desc("container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed.")
	memWorkingSet     = desc("container_memory_working_set_bytes", "Current working set in bytes: usage minus inactive file cache.")
	memRSS            = desc("container_memory_rss", "Size of RSS in bytes.")
	memCache          = desc("container_memory_cache", "Number of bytes of page cache memory.")
	memMappedFile     = desc("container_memory_mapped_file", "Size of memory mapped files in bytes.")
	memSwap           = desc("container_memory_swap", "Container swap usage in bytes.")
	memMaxUsage       = desc("container_memory_max_usage_bytes", "Maximum memory usage recorded in bytes (v1 max_usage_in_bytes, v2 memory.peak).")
	memFailcnt        = desc("container_memory_failcnt", "Number of memory usage hits limits (v1 memory.failcnt, v2 the max events of memory.events).")
	specMemLimit      = desc("container_spec_memory_limit_bytes", "Memory limit for the container, 0 when unlimited.")
	specMemSoftLimit  = desc("container_spec_memory_reservation_limit_bytes", "Memory reservation for the container, 0 when unset.")
	specCPUQuota      = desc("container_spec_cpu_quota", "CPU quota of the container, in microseconds per period (only when limited).")
	specCPUPeriod     = desc("container_spec_cpu_period", "CPU period of the container, in microseconds (only when a quota is set).")
	specCPUShares     = desc("container_spec_cpu_shares", "CPU share of the container (only when set).")
	netRxBytes        = desc("container_network_receive_bytes_total", "Cumulative count of bytes received.", "interface")
	netRxPackets      = desc("container_network_receive_packets_total", "Cumulative count of packets received.", "interface")
	netRxErrors       = desc("container_network_receive_errors_total", "Cumulative count of errors encountered while receiving.", "interface")
	netRxDropped      = desc("container_network_receive_packets_dropped_total", "Cumulative count of packets dropped while receiving.", "interface")
	netTxBytes        = desc("container_network_transmit_bytes_total", "Cumulative count of bytes transmitted.", "interface")
	netTxPackets      = desc("container_network_transmit_packets_total", "Cumulative count of packets transmitted.", "interface")
	netTxErrors       = desc("container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting.", "interface")
	netTxDropped      = desc("container_network_transmit_packets_dropped_total", "Cumulative count of packets dropped while transmitting.", "interface")
	fsReads           = desc("container_fs_reads_bytes_total", "Cumulative count of bytes read.", "device")
	fsWrites          = desc("container_fs_writes_bytes_total", "Cumulative count of bytes written.", "device")
	processes         = desc("container_processes", "Number of processes running inside the container.")
	threads           = desc("container_threads", "Number of threads running inside the container.")
	threadsMax        = desc("container_threads_max", "Maximum number of threads allowed inside the container, 0 when unlimited.")
	fileDescriptors   = desc("container_file_descriptors", "Number of open file descriptors for the container.")
	sockets           = desc("container_sockets", "Number of open sockets for the container.")
	tasksState        = desc("container_tasks_state", "Number of tasks in given state.", "state")
	memFailures       = desc("container_memory_failures_total", "Cumulative count of memory allocation failures.", "failure_type", "scope")
	specMemSwapLimit  = desc("container_spec_memory_swap_limit_bytes", "Memory swap limit for the container (memory plus swap, as --memory-swap), 0 when unlimited.")
	blkioUsage        = desc("container_blkio_device_usage_total", "Blkio device bytes usage.", "device", "major", "minor", "operation")
	fsReadsOps        = desc("container_fs_reads_total", "Cumulative count of reads completed.", "device")
	fsWritesOps       = desc("container_fs_writes_total", "Cumulative count of writes completed.", "device")
	fsUsage           = desc("container_fs_usage_bytes", "Number of bytes that are consumed by the container on this filesystem (its writable layer, as the engine's SizeRw).", "device")
	startTime         = desc("container_start_time_seconds", "Start time of the container (its last start) since unix epoch in seconds.")
	lastSeen          = desc("container_last_seen", "Last time a container was seen by the exporter.")
	oomEvents         = desc("container_oom_events_total", "Count of out of memory events observed for the container.")
	stateDesc         = desc("vigie_container_state", "Container state: 1 for the state it is in, 0 for the others.", "state")
	healthDesc        = desc("vigie_container_health_status", "Health-check status (containers with a health check): 1 for the current status.", "status")
	restartsDesc      = desc("vigie_container_restarts_total", "Restarts by the container's restart policy, as the engine counts them (RestartCount).")
	exitsDesc         = desc("vigie_container_exits_total", "Exits (die events) of the container seen on the engine's event stream.")
	exitCodeDesc      = desc("vigie_container_last_exit_code", "Exit code of the container's last exit.")
	oomKilledDesc     = desc("vigie_container_oom_killed", "Whether the container's last exit was an OOM kill (1) or not (0).")
	replicasDesired   = prometheus.NewDesc("vigie_service_replicas_desired", "Replicas a Swarm service or Compose service should run.", []string{"service", "stack", "mode"}, nil)
	replicasRunning   = prometheus.NewDesc("vigie_service_replicas_running", "Replicas of a Swarm service or Compose service running (and healthy, for Compose).", []string{"service", "stack", "mode"}, nil)
	serviceUpdate     = prometheus.NewDesc("vigie_service_update_state", "State of a Swarm service's last update: 1 for the current state.", []string{"service", "stack", "state"}, nil)
	eventStreamUp     = prometheus.NewDesc("vigie_docker_event_stream_up", "Whether the collector follows the engine's event stream (1) or not (0); exits and OOM counts need it.", nil, nil)
	containersScraped = prometheus.NewDesc("vigie_docker_containers", "Containers collected in the last gather, by state.", []string{"state"}, nil)
)

var containerStates = []string{"created", "running", "paused", "restarting", "removing", "exited", "dead"}

var healthStates = []string{"starting", "healthy", "unhealthy"}

var updateStates = []string{"updating", "paused", "completed", "rollback_started", "rollback_paused", "rollback_completed"}
