// Package media reads what the gateway bills from media it passes
// through: the duration of an audio upload (WAV and MP3), read from the
// bytes as they stream, never guessed from their size.
package media

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"time"
)

// ErrUnknownFormat means the audio is neither WAV nor MP3, or too damaged
// to measure.
var ErrUnknownFormat = errors.New("media: cannot measure this audio (WAV and MP3 are understood)")

// Duration reads an audio file from r to its end and returns its length.
func Duration(r io.Reader) (time.Duration, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(12)
	if err != nil && len(head) < 4 {
		return 0, ErrUnknownFormat
	}
	if len(head) >= 12 && string(head[:4]) == "RIFF" && string(head[8:12]) == "WAVE" {
		return wavDuration(br)
	}
	return mp3Duration(br)
}

// wavDuration walks a RIFF file's chunks: the fmt chunk gives the byte
// rate, the data chunk's size the length.
func wavDuration(r *bufio.Reader) (time.Duration, error) {
	if _, err := r.Discard(12); err != nil {
		return 0, ErrUnknownFormat
	}
	var byteRate uint32
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return 0, ErrUnknownFormat
		}
		id, size := string(hdr[:4]), binary.LittleEndian.Uint32(hdr[4:])
		switch id {
		case "fmt ":
			if size < 16 {
				return 0, ErrUnknownFormat
			}
			var f [16]byte
			if _, err := io.ReadFull(r, f[:]); err != nil {
				return 0, ErrUnknownFormat
			}
			byteRate = binary.LittleEndian.Uint32(f[8:12])
			if err := discard(r, int64(size)-16+int64(size&1)); err != nil {
				return 0, ErrUnknownFormat
			}
		case "data":
			if byteRate == 0 {
				return 0, ErrUnknownFormat
			}
			n := int64(size)
			if size == 0xFFFFFFFF || size == 0 {
				// A streamed WAV with no size: count what follows.
				var err error
				if n, err = io.Copy(io.Discard, r); err != nil {
					return 0, ErrUnknownFormat
				}
			}
			return time.Duration(float64(n) / float64(byteRate) * float64(time.Second)), nil
		default:
			if err := discard(r, int64(size)+int64(size&1)); err != nil {
				return 0, ErrUnknownFormat
			}
		}
	}
}

func discard(r *bufio.Reader, n int64) error {
	_, err := io.CopyN(io.Discard, r, n)
	return err
}

// MPEG audio tables, by version (0: MPEG-1, 1: MPEG-2, 2: MPEG-2.5).
var (
	bitrates = [2][3][16]int{ // [MPEG-1 or 2/2.5][layer I, II, III][index] kbit/s
		{
			{0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448, 0},
			{0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 0},
			{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0},
		},
		{
			{0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256, 0},
			{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0},
			{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0},
		},
	}
	sampleRates = [3][3]int{{44100, 48000, 32000}, {22050, 24000, 16000}, {11025, 12000, 8000}}
)

// frame describes one MPEG audio frame header.
type frame struct {
	size, samples, rate int
}

// parseFrame reads a 4-byte frame header; ok is false for anything that
// is not one.
func parseFrame(h []byte) (f frame, ok bool) {
	if len(h) < 4 || h[0] != 0xFF || h[1]&0xE0 != 0xE0 {
		return f, false
	}
	ver := (h[1] >> 3) & 3 // 0: 2.5, 2: 2, 3: 1
	layer := (h[1] >> 1) & 3
	bri := int(h[2] >> 4)
	sri := int((h[2] >> 2) & 3)
	pad := int((h[2] >> 1) & 1)
	if ver == 1 || layer == 0 || bri == 0 || bri == 15 || sri == 3 {
		return f, false
	}
	v := map[byte]int{3: 0, 2: 1, 0: 2}[ver]
	l := 3 - int(layer) // 0: layer I, 1: II, 2: III
	table := 0
	if v > 0 {
		table = 1
	}
	bitrate := bitrates[table][l][bri] * 1000
	f.rate = sampleRates[v][sri]
	switch {
	case l == 0:
		f.samples = 384
		f.size = (12*bitrate/f.rate + pad) * 4
	case l == 2 && v > 0:
		f.samples = 576
		f.size = 72*bitrate/f.rate + pad
	default:
		f.samples = 1152
		f.size = 144*bitrate/f.rate + pad
	}
	if f.size < 4 {
		return f, false
	}
	return f, true
}

// mp3Duration skips an ID3v2 tag, then adds up the frames (a Xing or
// VBRI header's frame count when there is one). Garbage between frames is
// skipped byte by byte; a file with no frame at all is not MP3.
func mp3Duration(r *bufio.Reader) (time.Duration, error) {
	if h, _ := r.Peek(10); len(h) == 10 && string(h[:3]) == "ID3" {
		size := int64(h[6]&0x7F)<<21 | int64(h[7]&0x7F)<<14 | int64(h[8]&0x7F)<<7 | int64(h[9]&0x7F)
		if h[5]&0x10 != 0 {
			size += 10 // footer
		}
		if err := discard(r, 10+size); err != nil {
			return 0, ErrUnknownFormat
		}
	}
	var (
		samples float64 // in seconds
		frames  int
	)
	for {
		h, err := r.Peek(4)
		if len(h) < 4 {
			if frames == 0 || (err != nil && err != io.EOF) {
				return 0, ErrUnknownFormat
			}
			return time.Duration(samples * float64(time.Second)), nil
		}
		f, ok := parseFrame(h)
		if !ok {
			if _, err := r.Discard(1); err != nil {
				return 0, ErrUnknownFormat
			}
			continue
		}
		body, _ := r.Peek(min(f.size, r.Size()))
		if frames == 0 {
			if n, ok := xingFrames(body); ok {
				return time.Duration(float64(n) * float64(f.samples) / float64(f.rate) * float64(time.Second)), nil
			}
		}
		frames++
		samples += float64(f.samples) / float64(f.rate)
		if _, err := r.Discard(f.size); err != nil {
			// The last frame was cut short: count it, it was sent.
			return time.Duration(samples * float64(time.Second)), nil
		}
	}
}

// xingFrames reads the frame count of a Xing/Info or VBRI header in the
// first frame, which VBR encoders write so the length is known at once.
func xingFrames(frame []byte) (int, bool) {
	for _, tag := range [][]byte{[]byte("Xing"), []byte("Info")} {
		if i := bytes.Index(frame, tag); i >= 0 && i+12 <= len(frame) {
			flags := binary.BigEndian.Uint32(frame[i+4:])
			if flags&1 != 0 {
				if n := int(binary.BigEndian.Uint32(frame[i+8:])); n > 0 {
					return n, true
				}
			}
		}
	}
	if i := bytes.Index(frame, []byte("VBRI")); i >= 0 && i+18 <= len(frame) {
		if n := int(binary.BigEndian.Uint32(frame[i+14:])); n > 0 {
			return n, true
		}
	}
	return 0, false
}
