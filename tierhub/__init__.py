"""tierhub: a data-pipeline sync hub across Tianjin's administrative tiers.

The shared core: errors, settings, reference data and the synthetic city generator.
The pipeline lives in the sibling packages ``connectors``, ``quality``, ``warehouse``
and ``flows``.
"""

__version__ = "0.1.0"
