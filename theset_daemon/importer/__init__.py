"""The artist import: phase 1 in the request, phases 2 and 3 in the background, resumable."""
