#!/bin/sh
echo fake capslayer: never run, analysis tests only >&2
exit 1
