"""ldarviz: does an LDARNet put its token boundaries where biology does?

Analyses read boundaries only through ``ldarnet``'s public output (``BoundaryOutput``, via
``extract_boundaries``); they never reach into the model. Coordinates are 0-based, half-open.
"""

from .extract import extract_boundaries
from .loading import Loaded, load_model
from .landmarks import LANDMARK_STATISTICS, landmark_matrix, landmark_stats, landmark_table, motif_landmarks
from .motifs import DEFAULT_MOTIFS, DEFAULT_RELEASE, load_motifs, scan_motifs
from .reproducibility import set_reproducible
from .sampling import stratified_sample
from .profiles import boundary_profile, motif_profiles, peak_enrichment
from .promoters import in_regions, promoter_windows, start_codon_windows
from .splice import canonical_fractions, matched_controls, splice_profiles, splice_sites
from .stats import adjust_pvalues, beats_controls, verdict_text
from .token_lengths import compare_contexts, context_regions, token_length_distributions, train_bpe
from .attribution import attribution_figure, boundary_attribution, plot_attribution
from .browse import browse, igv_config
from .robustness import plot_robustness, robustness_table
from .variants import read_vcf, variant_boundary_effects, write_variant_track

__all__ = [
    "extract_boundaries", "load_model", "Loaded", "set_reproducible", "stratified_sample",
    "scan_motifs", "load_motifs", "DEFAULT_MOTIFS", "DEFAULT_RELEASE",
    "boundary_profile", "motif_profiles", "peak_enrichment",
    "promoter_windows", "start_codon_windows", "in_regions",
    "motif_landmarks", "landmark_matrix", "landmark_stats", "landmark_table", "LANDMARK_STATISTICS",
    "beats_controls", "verdict_text", "adjust_pvalues",
    "splice_sites", "matched_controls", "splice_profiles", "canonical_fractions",
    "context_regions", "token_length_distributions", "compare_contexts", "train_bpe",
    "boundary_attribution", "plot_attribution", "attribution_figure",
    "variant_boundary_effects", "read_vcf", "write_variant_track",
    "robustness_table", "plot_robustness", "browse", "igv_config",
]
