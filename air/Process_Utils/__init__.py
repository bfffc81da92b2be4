"""Pure selection logic, prompt handling and video reading."""
