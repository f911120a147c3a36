package media

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

// WAV returns a PCM WAV of d at rate Hz, 16-bit, channels channels, with
// an extra chunk before the data as some encoders write.
func WAV(d time.Duration, rate, channels int) []byte {
	byteRate := rate * channels * 2
	n := int(d.Seconds() * float64(byteRate))
	var b bytes.Buffer
	le := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	le(uint32(4 + 8 + 16 + 8 + 4 + 8 + n))
	b.WriteString("WAVEfmt ")
	le(uint32(16))
	le(uint16(1))
	le(uint16(channels))
	le(uint32(rate))
	le(uint32(byteRate))
	le(uint16(channels * 2))
	le(uint16(16))
	b.WriteString("LIST")
	le(uint32(4))
	b.WriteString("INFO")
	b.WriteString("data")
	le(uint32(n))
	b.Write(make([]byte, n))
	return b.Bytes()
}

// mp3 returns n MPEG-1 Layer III frames at 128 kbit/s, 44.1 kHz (417
// bytes, 1152 samples each), behind an ID3v2 tag.
func mp3(n int, xing bool) []byte {
	var b bytes.Buffer
	b.Write([]byte{'I', 'D', '3', 4, 0, 0, 0, 0, 0, 20})
	b.Write(make([]byte, 20))
	for i := range n {
		f := make([]byte, 417)
		copy(f, []byte{0xFF, 0xFB, 0x90, 0x00})
		if i == 0 && xing {
			copy(f[36:], "Xing")
			binary.BigEndian.PutUint32(f[40:], 1)
			binary.BigEndian.PutUint32(f[44:], 1000) // the encoder's frame count
		}
		b.Write(f)
	}
	return b.Bytes()
}

func TestDuration(t *testing.T) {
	frame := 1152 * time.Second / 44100
	for name, tc := range map[string]struct {
		in   []byte
		want time.Duration
	}{
		"wav 16 kHz mono 3.5 s": {WAV(3500*time.Millisecond, 16000, 1), 3500 * time.Millisecond},
		"wav 44.1 kHz stereo":   {WAV(2*time.Second, 44100, 2), 2 * time.Second},
		"mp3 100 frames":        {mp3(100, false), 100 * frame},
		"mp3 with a Xing count": {mp3(3, true), 1000 * frame},
	} {
		got, err := Duration(bytes.NewReader(tc.in))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d := got - tc.want; d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
	for name, in := range map[string][]byte{"empty": nil, "text": []byte("hello, this is not audio at all"), "riff without fmt": []byte("RIFF\x00\x00\x00\x00WAVEdata\x04\x00\x00\x00abcd")} {
		if _, err := Duration(bytes.NewReader(in)); err != ErrUnknownFormat {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzDuration(f *testing.F) {
	f.Add(WAV(10*time.Millisecond, 8000, 1))
	f.Add(mp3(2, false))
	f.Add(mp3(1, true))
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Duration(bytes.NewReader(b))
		if err == nil && d < 0 {
			t.Fatalf("negative duration %v", d)
		}
	})
}
