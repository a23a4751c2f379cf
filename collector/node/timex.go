package node

import (
	"context"
	"errors"
	"os"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
)

const (
	timeError    = 5      // TIME_ERROR: the clock is not synchronized
	staNano      = 0x2000 // STA_NANO: offsets in nanoseconds
	nanoSeconds  = 1e9
	microSeconds = 1e6
	ppm16frac    = 1000000.0 * 65536.0 // see NOTES in adjtimex(2)
)

func timexDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("node_timex_"+name, help, nil, nil)
}

var (
	timexSync     = timexDesc("sync_status", "Is clock synchronized to a reliable server (1 = yes, 0 = no).")
	timexOffset   = timexDesc("offset_seconds", "Time offset in between local system and reference clock.")
	timexFreq     = timexDesc("frequency_adjustment_ratio", "Local clock frequency adjustment.")
	timexMaxerr   = timexDesc("maxerror_seconds", "Maximum error in seconds.")
	timexEsterr   = timexDesc("estimated_error_seconds", "Estimated error in seconds.")
	timexStatus   = timexDesc("status", "Value of the status array bits.")
	timexConstant = timexDesc("loop_time_constant", "Phase-locked loop time constant.")
	timexTick     = timexDesc("tick_seconds", "Seconds between clock ticks.")
	timexPPSFreq  = timexDesc("pps_frequency_hertz", "Pulse per second frequency.")
	timexJitter   = timexDesc("pps_jitter_seconds", "Pulse per second jitter.")
	timexShift    = timexDesc("pps_shift_seconds", "Pulse per second interval duration.")
	timexStabil   = timexDesc("pps_stability_hertz", "Pulse per second stability, average of recent frequency changes.")
	timexJitcnt   = timexDesc("pps_jitter_total", "Pulse per second count of jitter limit exceeded events.")
	timexCalcnt   = timexDesc("pps_calibration_total", "Pulse per second count of calibration intervals.")
	timexErrcnt   = timexDesc("pps_error_total", "Pulse per second count of calibration errors.")
	timexStbcnt   = timexDesc("pps_stability_exceeded_total", "Pulse per second count of stability limit exceeded events.")
	timexTAI      = timexDesc("tai_offset_seconds", "International Atomic Time (TAI) offset.")
)

// updateTimex reports the kernel clock discipline (adjtimex(2)), which the
// usual "clock not synchronising" alerts read.
func (c *Collector) updateTimex(_ context.Context, ch chan<- prometheus.Metric) error {
	var tx syscall.Timex
	status, err := syscall.Adjtimex(&tx)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return errNoData
		}
		return err
	}
	sync := 1.0
	if status == timeError {
		sync = 0
	}
	div := microSeconds
	if tx.Status&staNano != 0 {
		div = nanoSeconds
	}
	ch <- gauge(timexSync, sync)
	ch <- gauge(timexOffset, float64(tx.Offset)/div)
	ch <- gauge(timexFreq, 1+float64(tx.Freq)/ppm16frac)
	ch <- gauge(timexMaxerr, float64(tx.Maxerror)/microSeconds)
	ch <- gauge(timexEsterr, float64(tx.Esterror)/microSeconds)
	ch <- gauge(timexStatus, float64(tx.Status))
	ch <- gauge(timexConstant, float64(tx.Constant))
	ch <- gauge(timexTick, float64(tx.Tick)/microSeconds)
	ch <- gauge(timexPPSFreq, float64(tx.Ppsfreq)/ppm16frac)
	ch <- gauge(timexJitter, float64(tx.Jitter)/div)
	ch <- gauge(timexShift, float64(tx.Shift))
	ch <- gauge(timexStabil, float64(tx.Stabil)/ppm16frac)
	ch <- counter(timexJitcnt, float64(tx.Jitcnt))
	ch <- counter(timexCalcnt, float64(tx.Calcnt))
	ch <- counter(timexErrcnt, float64(tx.Errcnt))
	ch <- counter(timexStbcnt, float64(tx.Stbcnt))
	ch <- gauge(timexTAI, float64(tx.Tai))
	return nil
}
