//! The announcement a tenant's leads hear before the bridge ("esta ligação
//! será gravada…"): an admin uploads a WAV file (16-bit PCM, any rate,
//! mono or stereo, up to [`MAX_SECONDS`]); it is mixed to mono and
//! resampled to 8 kHz — the one WAV format Asterisk's `format_wav` plays —
//! and written, readable by Asterisk, as `<tenant>-aviso.wav` in the
//! prompts folder (a temporary file renamed into place). Or the default
//! one, [`DEFAULT`], made at build time.

use std::io::Cursor;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The default announcement ("Esta ligação será gravada…"), spoken by
/// espeak-ng at build time (`backend/build.rs`); `None` when the backend
/// was built without espeak-ng.
#[cfg(default_announcement)]
pub const DEFAULT: Option<&[u8]> = Some(include_bytes!(concat!(
    env!("OUT_DIR"),
    "/aviso-padrao.wav"
)));
#[cfg(not(default_announcement))]
pub const DEFAULT: Option<&[u8]> = None;

/// Longest announcement.
pub const MAX_SECONDS: u32 = 30;
/// Largest upload.
pub const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;
/// The rate Asterisk's `format_wav` plays.
const PBX_RATE: u32 = 8000;

/// Why a file cannot be the announcement; `Display` is Portuguese.
#[derive(Debug, thiserror::Error)]
pub enum AnnouncementError {
    #[error("O arquivo não é um WAV legível. Envie um arquivo .wav (PCM de 16 bits).")]
    NotWav,
    #[error(
        "O WAV deve ser PCM de 16 bits (o formato comum de gravadores e do Audacity, \"WAV 16-bit PCM\")."
    )]
    Format,
    #[error("O aviso deve ter de 1 a 30 segundos.")]
    Length,
    #[error("O aviso não pôde ser gravado no servidor: {0}")]
    Io(#[from] std::io::Error),
}

/// The prompt name of `tenant`'s announcement (without extension).
pub fn prompt_name(tenant: &str) -> String {
    format!("{tenant}-aviso")
}

/// `wav` as 8 kHz mono 16-bit PCM samples.
pub fn convert(wav: &[u8]) -> Result<Vec<i16>, AnnouncementError> {
    let reader = hound::WavReader::new(Cursor::new(wav)).map_err(|_| AnnouncementError::NotWav)?;
    let spec = reader.spec();
    if spec.bits_per_sample != 16
        || spec.sample_format != hound::SampleFormat::Int
        || spec.channels == 0
        || spec.sample_rate < 4000
    {
        return Err(AnnouncementError::Format);
    }
    let channels = usize::from(spec.channels);
    let frames = reader.duration();
    if frames == 0 || frames / spec.sample_rate > MAX_SECONDS {
        return Err(AnnouncementError::Length);
    }
    let samples: Vec<i16> = reader
        .into_samples::<i16>()
        .collect::<Result<_, _>>()
        .map_err(|_| AnnouncementError::NotWav)?;
    let mono: Vec<f64> = samples
        .chunks(channels)
        .map(|frame| frame.iter().map(|&s| f64::from(s)).sum::<f64>() / frame.len() as f64)
        .collect();
    // Linear interpolation: speech keeps its words at 8 kHz; the trunk
    // carries G.711 at that rate anyway.
    let ratio = f64::from(spec.sample_rate) / f64::from(PBX_RATE);
    let out_len = (mono.len() as f64 / ratio).floor() as usize;
    Ok((0..out_len)
        .map(|i| {
            let at = i as f64 * ratio;
            let left = at.floor() as usize;
            let right = (left + 1).min(mono.len() - 1);
            let frac = at - left as f64;
            let value = mono[left] * (1.0 - frac) + mono[right] * frac;
            value
                .round()
                .clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16
        })
        .collect())
}

/// Converts `wav` and writes it as `<dir>/<name>.wav` (mode 0644).
pub fn write(dir: &Path, name: &str, wav: &[u8]) -> Result<(), AnnouncementError> {
    let samples = convert(wav)?;
    std::fs::create_dir_all(dir)?;
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: PBX_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let temporary = dir.join(format!(".{name}.wav.tmp"));
    {
        let mut writer = hound::WavWriter::create(&temporary, spec)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        for sample in samples {
            writer
                .write_sample(sample)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        writer
            .finalize()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
    }
    std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o644))?;
    std::fs::rename(&temporary, dir.join(format!("{name}.wav")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(rate: u32, channels: u16, seconds: f64, bits: u16) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: bits,
            sample_format: hound::SampleFormat::Int,
        };
        let mut out = Cursor::new(Vec::new());
        let mut writer = hound::WavWriter::new(&mut out, spec).unwrap();
        for n in 0..(f64::from(rate) * seconds) as u32 {
            let value =
                (f64::from(n) / f64::from(rate) * 440.0 * std::f64::consts::TAU).sin() * 8000.0;
            for _ in 0..channels {
                if bits == 16 {
                    writer.write_sample(value as i16).unwrap();
                } else {
                    writer.write_sample(value as i32).unwrap();
                }
            }
        }
        writer.finalize().unwrap();
        out.into_inner()
    }

    #[test]
    fn any_16_bit_wav_becomes_8_khz_mono() {
        let samples = convert(&wav(44_100, 2, 2.0, 16)).unwrap();
        assert!(
            (15_990..=16_000).contains(&samples.len()),
            "{}",
            samples.len()
        );
        let peak = samples.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!((7_500..=8_000).contains(&peak), "{peak}");
        assert_eq!(convert(&wav(8000, 1, 1.0, 16)).unwrap().len(), 8000);
    }

    #[test]
    fn the_default_announcement_is_playable_when_built() {
        if let Some(wav) = DEFAULT {
            let samples = convert(wav).unwrap();
            assert!(samples.len() > 8000 * 3, "a few seconds of speech");
        }
    }

    #[test]
    fn what_asterisk_cannot_play_is_refused() {
        assert!(matches!(
            convert(b"not a wav"),
            Err(AnnouncementError::NotWav)
        ));
        assert!(matches!(
            convert(&wav(8000, 1, 1.0, 24)),
            Err(AnnouncementError::Format)
        ));
        assert!(matches!(
            convert(&wav(8000, 1, 31.0, 16)),
            Err(AnnouncementError::Length)
        ));
    }
}
