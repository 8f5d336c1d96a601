"""Firmware image build, signing, A/B install and rollback."""
