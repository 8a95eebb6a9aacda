//! Audio evidence for the softphone tests: a known tone for Chromium's fake
//! microphone (`--use-file-for-fake-audio-capture`), and what a recording
//! made at the PBX holds — its loudness and its main frequency — so a test
//! can tell the tone from speech and both from silence. WAV files through
//! `hound`.

use std::path::Path;

use anyhow::{Context, ensure};

/// Writes `seconds` of a sine at `hz` (half scale), 48 kHz mono 16-bit:
/// the format Chromium's fake capture reads.
pub fn write_tone(path: &Path, hz: f64, seconds: f64) -> anyhow::Result<()> {
    const RATE: u32 = 48_000;
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec)
        .with_context(|| format!("creating {}", path.display()))?;
    let samples = (f64::from(RATE) * seconds) as u32;
    for n in 0..samples {
        let t = f64::from(n) / f64::from(RATE);
        let value = (t * hz * std::f64::consts::TAU).sin() * f64::from(i16::MAX) * 0.5;
        writer.write_sample(value as i16)?;
    }
    writer.finalize()?;
    Ok(())
}

/// What a recording holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Audio {
    /// Root mean square of the samples, full scale = 1.0.
    pub rms: f64,
    /// The main frequency, from the zero crossings of the loud part (a pure
    /// tone reads as itself; speech reads as something else).
    pub frequency_hz: f64,
    /// How much the loudness of 20 ms frames varies: their RMS's standard
    /// deviation over its mean. About 0 for a steady tone; speech, with its
    /// syllables and pauses, is far above (0.5 and more).
    pub loudness_variation: f64,
    pub seconds: f64,
}

/// Reads a 16-bit PCM WAV file (what Asterisk's MixMonitor writes).
pub fn analyse(path: &Path) -> anyhow::Result<Audio> {
    let mut reader =
        hound::WavReader::open(path).with_context(|| format!("reading {}", path.display()))?;
    let spec = reader.spec();
    ensure!(
        spec.bits_per_sample == 16 && spec.sample_format == hound::SampleFormat::Int,
        "{}: not 16-bit PCM",
        path.display()
    );
    let samples: Vec<f64> = reader
        .samples::<i16>()
        .map(|s| s.map(|s| f64::from(s) / f64::from(i16::MAX)))
        .collect::<Result<_, _>>()?;
    let channels = f64::from(spec.channels.max(1));
    let seconds = samples.len() as f64 / channels / f64::from(spec.sample_rate);
    if samples.is_empty() {
        return Ok(Audio {
            rms: 0.0,
            frequency_hz: 0.0,
            loudness_variation: 0.0,
            seconds,
        });
    }
    let rms = (samples.iter().map(|s| s * s).sum::<f64>() / samples.len() as f64).sqrt();
    // Zero crossings in the 20 ms frames louder than a tenth of the RMS, so
    // the silence around the sound does not count.
    let frame = (spec.sample_rate as usize / 50 * usize::from(spec.channels.max(1))).max(2);
    let floor = rms / 10.0;
    let (mut crossings, mut loud_frames) = (0usize, 0usize);
    let mut levels = Vec::new();
    for chunk in samples.chunks(frame) {
        let level = (chunk.iter().map(|s| s * s).sum::<f64>() / chunk.len() as f64).sqrt();
        if chunk.len() == frame {
            levels.push(level);
        }
        if level > floor && chunk.len() == frame {
            loud_frames += 1;
            crossings += chunk
                .windows(2)
                .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
                .count();
        }
    }
    let loud_seconds = loud_frames as f64 * frame as f64 / channels / f64::from(spec.sample_rate);
    let frequency_hz = if loud_seconds > 0.0 {
        crossings as f64 / 2.0 / loud_seconds
    } else {
        0.0
    };
    let mean = levels.iter().sum::<f64>() / levels.len().max(1) as f64;
    let variance =
        levels.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / levels.len().max(1) as f64;
    let loudness_variation = if mean > 0.0 {
        variance.sqrt() / mean
    } else {
        0.0
    };
    Ok(Audio {
        rms,
        frequency_hz,
        loudness_variation,
        seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tone_reads_back_as_its_frequency_and_level() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tone.wav");
        write_tone(&file, 440.0, 1.0).unwrap();
        let audio = analyse(&file).unwrap();
        assert!((audio.frequency_hz - 440.0).abs() < 15.0, "{audio:?}");
        assert!((audio.rms - 0.5 / 2f64.sqrt()).abs() < 0.01, "{audio:?}");
        assert!((audio.seconds - 1.0).abs() < 0.01);
        assert!(audio.loudness_variation < 0.05, "{audio:?}");
    }
}
