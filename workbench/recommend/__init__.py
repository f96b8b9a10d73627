"""Recommendations (issue 9): learning resources matched to a student's gaps at the level the student is
ready for, a wrong-question set, learning partners with complementary strengths, and subject-choice advice.

Pure core: pandas, networkx and the store in, plain frames and dicts out; no widget library here.
"""
