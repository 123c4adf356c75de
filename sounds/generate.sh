#!/usr/bin/env bash
# generate.sh rebuilds the built-in prompts in prompts/ as G.711 µ-law 8 kHz mono WAV
# files. It is run by hand when a prompt changes, never by the tests or the build:
# the generated files are committed and embedded into the binary.
#
# Needs espeak-ng and sox (Debian/Ubuntu: apt-get install -y espeak-ng sox).
# Usage: sounds/generate.sh            (from anywhere)
set -euo pipefail

for tool in espeak-ng sox; do
	command -v "$tool" >/dev/null || { echo "generate.sh: $tool is not installed (apt-get install -y espeak-ng sox)" >&2; exit 1; }
done

here=$(cd "$(dirname "$0")" && pwd)
out="$here/prompts"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"

# Voice: espeak-ng's American English with a female variant, slowed down a little
# because narrowband phone audio blurs fast speech.
voice="en-us+f3"
speed=145

# Output options shared by every prompt: µ-law 8 kHz mono, no dither so that
# re-running the script gives identical files.
ulaw=(-D -e u-law -b 8 -r 8000 -c 1)

# Speech leaves espeak-ng at 22.05 kHz. Cut the telephone band (300-3400 Hz keeps
# the voice clear on G.711), trim silence at both ends (the sequence silence/reverse
# is sox's idiom for trimming the tail), then normalise to -3 dBFS peak.
speak() {
	local name=$1 text=$2
	espeak-ng -v "$voice" -s "$speed" -w "$tmp/$name.raw.wav" "$text"
	sox "$tmp/$name.raw.wav" "${ulaw[@]}" "$out/$name.wav" \
		highpass 250 lowpass 3400 \
		silence 1 0.02 -50d reverse silence 1 0.02 -50d reverse \
		gain -n -3
}

speak greeting "The person you are calling is not available. Please leave a message after the tone."
speak callback "Thank you. We have noted your number and will call you back as soon as possible. Goodbye."
speak status-online "You are now online."
speak status-away "You are now away."
speak vm-pin "Please enter your PIN followed by the pound key."
speak vm-bad-pin "Incorrect PIN. Goodbye."
speak vm-none "You have no messages."
speak vm-message "Next message."
speak vm-menu "Press 1 for the next message, 7 to delete, 9 to save."
speak vm-deleted "Message deleted."
speak vm-saved "Message saved."
speak vm-goodbye "Goodbye."
speak vm-mailbox "Please enter the mailbox number followed by the pound key."
speak main-menu "Welcome. For sales press 1. For support press 2."
speak invalid "That is not a valid option."
speak unavailable "The number you have dialled is not available."
speak goodbye "Goodbye."

# beep: the voicemail "start speaking now" tone, 1 kHz for 400 ms with 10 ms ramps
# so it does not click.
sox -n "${ulaw[@]}" "$out/beep.wav" synth 0.4 sine 1000 fade h 0.01 0.4 0.01 gain -6

# ringback: North American ring cadence, 440+480 Hz for 2 s then 4 s of silence,
# one cycle; the player loops it. The two tones go to two channels and are mixed.
sox -n -r 8000 -c 2 "$tmp/ring.wav" synth 2 sine 440 sine 480 fade h 0.01 2 0.01
sox "$tmp/ring.wav" "${ulaw[@]}" "$out/ringback.wav" remix - gain -n -9 pad 0 4

# hold: about 8 s of soft music, the progression C - Am - F - G, each chord a 2 s
# pad of three sine voices with a slow swell, plus a plucked arpeggio one octave up.
# It ends on the dominant so that looping back to C sounds natural.
chord() { # name, three frequencies of the pad
	local name=$1 a=$2 b=$3 c=$4
	sox -n -r 8000 -c 3 "$tmp/$name-pad3.wav" synth 2 sine "$a" sine "$b" sine "$c"
	sox "$tmp/$name-pad3.wav" -c 1 "$tmp/$name-pad.wav" remix - fade q 0.4 2 0.5 gain -n -12
	local notes=() n
	for n in "$a" "$b" "$c" "$b"; do
		sox -n -r 8000 -c 1 "$tmp/$name-n$n-${#notes[@]}.wav" synth 0.5 pluck "$(echo "$n*2" | bc -l)" \
			fade q 0.005 0.5 0.3 gain -n -16
		notes+=("$tmp/$name-n$n-${#notes[@]}.wav")
	done
	sox "${notes[@]}" "$tmp/$name-arp.wav"
	sox -m "$tmp/$name-pad.wav" "$tmp/$name-arp.wav" "$tmp/$name.wav"
}
chord c 261.63 329.63 392.00
chord am 220.00 261.63 329.63
chord f 174.61 220.00 261.63
chord g 196.00 246.94 293.66
sox "$tmp/c.wav" "$tmp/am.wav" "$tmp/f.wav" "$tmp/g.wav" "${ulaw[@]}" "$out/hold.wav" \
	reverb 30 50 40 gain -n -6

ls -l "$out"
du -ch "$out"/*.wav | tail -1
