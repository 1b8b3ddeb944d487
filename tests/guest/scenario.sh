#!/bin/bash
# Runs inside the guest (chrooted into the host's /, as root): sets up v4l2loopback the way
# a user would, starts `livecam run` on the device labelled LiveCam, and reads the device back
# with one client. Everything the host-side test checks lands in the job folder, /tmp/job.
#
#   scenario.sh ffmpeg     doctor without a device, the fix doctor prints, doctor again, ffmpeg
#   scenario.sh chromium   a decoy camera first in the list; LiveCam finds its device by label,
#                          and Chromium picks LiveCam by label
#   scenario.sh idle       nobody reads: LiveCam releases its source; ffmpeg opens: frames flow;
#                          it closes: the source is released again; ffmpeg again: frames again
#
# Settings come from /tmp/job/env (written by test_guest_virtual_camera.py).
set -u
J=/tmp/job
. "$J/env"
mkdir -p "$HOME" /tmp/livecam-config

mark() { echo "$(cut -d' ' -f1 /proc/uptime) $*" >> "$J/timeline.txt"; }

# The checkout's own code, with settings of its own (never a saved config of the host).
# NUMBA_CPU_NAME: the loops the host compiled for a generic CPU (the guest's is emulated).
LIVECAM=(env PYTHONPATH="$REPO" PYTHONDONTWRITEBYTECODE=1 LIVECAM_CONFIG_DIR=/tmp/livecam-config NUMBA_CPU_NAME="$NUMBA_CPU" "$PYTHON" -m livecam)

# Readers may open the device only once the writer has set its format: before that an
# exclusive_caps device is an output device and clients skip it (or fail to open it).
wait_for_capture() {  # device, writer pid, seconds
    local deadline=$(( $(cut -d. -f1 /proc/uptime) + $3 ))
    while [ "$(cut -d. -f1 /proc/uptime)" -lt "$deadline" ]; do
        v4l2-ctl -d "$1" --info 2>/dev/null | grep -q "Video Capture" && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.5
    done
    return 1
}

# device "by-label" leaves --device out, so LiveCam must find the device labelled LiveCam itself.
start_livecam() {  # device, log name; sets LIVECAM_PID (LiveCam's own pid: env execs python)
    local device=(--device "$1")
    [ "$1" = by-label ] && device=()
    "${LIVECAM[@]}" run --source "$SOURCE" --size "$SIZE" --fps "$FPS" --background color --color "$COLOR" \
        --output virtualcam "${device[@]}" --frames "$LIVECAM_FRAMES" > "$J/$2-livecam.log" 2>&1 &
    LIVECAM_PID=$!
    mark "livecam started ($1)"
}

# LiveCam stops by itself after --frames; a guest too slow for that within the time limit
# gets SIGTERM (which LiveCam answers with a clean stop), and the rc file says which it was.
finish_livecam() {  # log name
    local waited=0
    while kill -0 "$LIVECAM_PID" 2>/dev/null && [ "$waited" -lt "$LIVECAM_EXIT_S" ]; do
        sleep 1; waited=$((waited + 1))
    done
    local how=exited
    if kill -0 "$LIVECAM_PID" 2>/dev/null; then
        kill -TERM "$LIVECAM_PID"
        how=terminated
    fi
    wait "$LIVECAM_PID"
    echo "$? $how" > "$J/$1-livecam.rc"
    mark "livecam $how"
}

scenario_ffmpeg() {
    "${LIVECAM[@]}" doctor > "$J/doctor-before.txt" 2>&1
    echo $? > "$J/doctor-before.rc"
    mark "doctor without a device"

    # Load the module with exactly the command doctor told the user to run.
    local fix
    fix=$(grep -o 'sudo modprobe v4l2loopback.*' "$J/doctor-before.txt" | head -n1)
    if [ -n "$fix" ]; then
        echo "$fix" > "$J/modprobe.cmd"
    else
        fix='sudo modprobe v4l2loopback devices=1 video_nr=10 card_label="LiveCam" exclusive_caps=1'
        echo "(doctor printed no fix) $fix" > "$J/modprobe.cmd"
    fi
    sh -c "${fix#sudo }" > "$J/modprobe.log" 2>&1
    echo $? > "$J/modprobe.rc"
    mark "modprobe"

    # doctor runs while LiveCam starts, as a user checking a running set-up would (and an
    # emulated guest takes tens of seconds for each Python start).
    start_livecam /dev/video10 ffmpeg
    "${LIVECAM[@]}" doctor > "$J/doctor-after.txt" 2>&1
    echo $? > "$J/doctor-after.rc"
    mark "doctor with the device"
    if wait_for_capture /dev/video10 "$LIVECAM_PID" "$WRITER_WAIT_S"; then
        mark "device is a capture device"
        # The reader runs until LiveCam has sent its --frames and stopped. passthrough keeps
        # exactly the frames the device delivered (ffmpeg would otherwise invent duplicates to
        # fill the timestamp gaps a slow guest leaves); YUV4MPEG keeps their pixels untouched
        # and costs the guest no encoding. ffmpeg waits forever once the writer is gone, so it
        # is stopped, with a timeout as the last resort.
        timeout "$READ_TIMEOUT_S" ffmpeg -nostdin -loglevel info -f v4l2 -i /dev/video10 \
            -fps_mode passthrough -f yuv4mpegpipe "$J/ffmpeg.y4m" > "$J/ffmpeg.log" 2>&1 &
        local reader=$!
        finish_livecam ffmpeg
        sleep 1
        kill -INT "$reader" 2>/dev/null
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$reader" 2>/dev/null || break; sleep 0.5; done
        kill -KILL "$reader" 2>/dev/null
        wait "$reader"
        echo $? > "$J/ffmpeg.rc"
        mark "ffmpeg stopped"
    else
        echo "LiveCam never configured /dev/video10" > "$J/ffmpeg.rc"
        finish_livecam ffmpeg
    fi
}

scenario_chromium() {
    # A decoy with a lower number stands in for a laptop's built-in webcam, so a page that
    # took the first camera would get the wrong one.
    modprobe v4l2loopback devices=2 video_nr=0,10 card_label=Integrated_Webcam,LiveCam exclusive_caps=1,1 \
        > "$J/modprobe.log" 2>&1
    echo $? > "$J/modprobe.rc"
    ffmpeg -nostdin -loglevel error -re -f lavfi -i testsrc2=size=640x360:rate=2 -pix_fmt yuv420p \
        -f v4l2 /dev/video0 > "$J/decoy.log" 2>&1 &
    local decoy=$!
    start_livecam by-label chromium
    if ! wait_for_capture /dev/video0 "$decoy" "$WRITER_WAIT_S"; then
        echo "the decoy camera never started" > "$J/chromium.rc"
    elif ! wait_for_capture /dev/video10 "$LIVECAM_PID" "$WRITER_WAIT_S"; then
        echo "LiveCam never configured /dev/video10" > "$J/chromium.rc"
    else
        mark "both cameras are capture devices"
        # Chromium starts only now: without udev in the guest it may never hear that a camera
        # became available later.
        "$PYTHON" "$REPO/tests/guest/page_server.py" "$REPO/tests/guest/camera_page.html" "$J/chromium" \
            "$PAGE_PORT" "$READ_TIMEOUT_S" > "$J/page_server.log" 2>&1 &
        local server=$!
        # --use-fake-ui-for-media-stream grants the camera as a user's click would. The rest
        # keeps Chromium's background work (updates, sync, AI models, ...) off the slow guest,
        # and --ipc-connection-timeout stops its helper processes from killing themselves
        # when the browser takes more than the default 15 s to reach them.
        chromium --headless --no-sandbox --user-data-dir=/tmp/chromium-profile \
            --use-fake-ui-for-media-stream --autoplay-policy=no-user-gesture-required \
            --ipc-connection-timeout=600 --disable-gpu --no-first-run --no-default-browser-check \
            --disable-extensions --disable-component-update --disable-background-networking \
            --disable-default-apps --disable-sync --disable-breakpad --disable-domain-reliability \
            --disable-client-side-phishing-detection --metrics-recording-only --mute-audio \
            --disable-features=Translate,MediaRouter,OptimizationHints,OnDeviceModelService,AutofillServerCommunication \
            --enable-logging=stderr --v=0 \
            "http://127.0.0.1:$PAGE_PORT/?label=LiveCam&frames=$PAGE_FRAMES&every_ms=$PAGE_EVERY_MS&width=${SIZE%x*}&height=${SIZE#*x}" \
            > "$J/chromium.log" 2>&1 &
        local browser=$!
        wait "$server"
        echo $? > "$J/chromium.rc"
        mark "page reported"
        kill "$browser" 2>/dev/null
        wait "$browser" 2>/dev/null
    fi
    LIVECAM_EXIT_S=0 finish_livecam chromium
    kill "$decoy" 2>/dev/null
}

# --- idle when nobody watches -------------------------------------------------------------

# Builtins only (bash's -ef compares device and inode), so the emulated guest polls every ~50 ms.
source_open() {  # prints 1 while LiveCam's process has the source clip open, else 0
    local f
    for f in /proc/"$LIVECAM_PID"/fd/*; do
        [ "$f" -ef "$SOURCE" ] && { echo 1; return; }
    done
    echo 0
}

centis() { local up _; read -r up _ < /proc/uptime; echo $(( 10#${up/./} )); }  # uptime in 1/100 s

seconds_between() { local d=$(( $1 - $2 )); printf '%d.%02d' $(( d / 100 )) $(( d % 100 )); }

wait_source() {  # want (0 released / 1 open), seconds; prints the uptime (1/100 s) when it happened
    local deadline=$(( $(centis) + 100 * $2 ))
    while [ "$(centis)" -lt "$deadline" ]; do
        if [ "$(source_open)" = "$1" ]; then centis; return 0; fi
        kill -0 "$LIVECAM_PID" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

cpu_ticks() { local stat; read -r -a stat < "/proc/$LIVECAM_PID/stat"; echo $(( stat[13] + stat[14] )); }

cpu_percent() {  # LiveCam's CPU use (% of one core) over $1 seconds
    local t0 c0 t1 c1
    t0=$(centis); c0=$(cpu_ticks)
    sleep "$1"
    t1=$(centis); c1=$(cpu_ticks)
    # ticks are 1/CLK_TCK s (100 on Linux); in tenths of a percent, then printed with one decimal
    local permille=$(( 1000 * 100 * (c1 - c0) / $(getconf CLK_TCK) / (t1 - t0) ))
    printf '%d.%d\n' $(( permille / 10 )) $(( permille % 10 ))
}

record() { echo "$1=$2" >> "$J/idle.txt"; }

# LiveCam logs this once the source is closed AND the frame in flight is done (processing stopped).
wait_paused() {  # how many times it must have been logged, seconds
    local deadline=$(( $(centis) + 100 * $2 ))
    while [ "$(centis)" -lt "$deadline" ]; do
        [ "$(grep -c 'processing is paused' "$J/idle-livecam.log")" -ge "$1" ] && return 0
        sleep 0.2
    done
    return 1
}

read_session() {  # name: ffmpeg reads $IDLE_READ_FRAMES frames; measures CPU while it reads
    local opened first
    opened=$(centis)
    mark "ffmpeg $1 opens"
    timeout "$READ_TIMEOUT_S" ffmpeg -nostdin -loglevel info -f v4l2 -i /dev/video10 -frames:v "$IDLE_READ_FRAMES" \
        -fps_mode passthrough -f yuv4mpegpipe "$J/$1.y4m" > "$J/$1.log" 2>&1 &
    local reader=$!
    if first=$(wait_source 1 30); then
        record "$1_source_reopened_s" "$(seconds_between "$first" "$opened")"
        mark "source reopened"
    fi
    sleep "$CPU_SETTLE_S"
    record "$1_cpu_reading_percent" "$(cpu_percent "$CPU_WINDOW_S")"
    wait "$reader"
    echo $? > "$J/$1.rc"
    local closed
    closed=$(centis)
    mark "ffmpeg $1 closed"
    local released
    if released=$(wait_source 0 30); then
        record "$1_release_after_close_s" "$(seconds_between "$released" "$closed")"
        mark "source released"
    else
        record "$1_release_after_close_s" "never"
    fi
}

scenario_idle() {
    modprobe v4l2loopback devices=1 video_nr=10 card_label=LiveCam exclusive_caps=1 > "$J/modprobe.log" 2>&1
    echo $? > "$J/modprobe.rc"
    start_livecam /dev/video10 idle
    if ! wait_for_capture /dev/video10 "$LIVECAM_PID" "$WRITER_WAIT_S"; then
        echo "LiveCam never configured /dev/video10" > "$J/idle.rc"
        LIVECAM_EXIT_S=0 finish_livecam idle
        return
    fi
    mark "device is a capture device"
    # Nobody reads yet: after its first frames LiveCam lets the source go.
    if wait_source 0 "$WRITER_WAIT_S" > /dev/null; then
        mark "source released (nobody reads)"
        wait_paused 1 60 && mark "processing paused"
        sleep "$IDLE_SETTLE_S"
        record idle_cpu_percent "$(cpu_percent "$CPU_WINDOW_S")"
        read_session idle-1
        wait_paused 2 60 && mark "processing paused"
        sleep "$IDLE_SETTLE_S"
        record idle_again_cpu_percent "$(cpu_percent "$CPU_WINDOW_S")"
        read_session idle-2
        echo 0 > "$J/idle.rc"
    else
        echo "LiveCam never released its source while nobody read" > "$J/idle.rc"
    fi
    LIVECAM_EXIT_S=0 finish_livecam idle
}

mark "scenario $1 starts"
"scenario_$1"
mark "scenario $1 ends"
